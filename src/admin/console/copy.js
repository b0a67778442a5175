// The worksheet's copy buttons. The Clipboard API needs a secure context (https, or the
// loopback address); elsewhere the value is selected so that Ctrl+C / Cmd+C copies it.
document.querySelectorAll('button.copy').forEach(function (b) {
  b.addEventListener('click', function () {
    var value = b.dataset.copy;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(value).then(
        function () { b.textContent = 'Copied'; },
        function () { select(b); }
      );
    } else {
      select(b);
    }
  });
});

function select(b) {
  var code = b.closest('tr') && b.closest('tr').querySelector('code.value');
  if (!code) return;
  var range = document.createRange();
  range.selectNodeContents(code);
  var selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
  b.textContent = 'Selected: press Ctrl+C';
}
