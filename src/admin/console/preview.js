// Live preview of a group's members while its conditions or member list are typed.
// Progressive enhancement: without JavaScript the form's "Preview members" button does this.
(function () {
  var form = document.getElementById('group-form');
  var box = document.getElementById('preview');
  if (!form || !box || !window.fetch || !window.URLSearchParams) return;
  var timer = null;
  var latest = 0;
  function update() {
    var mine = ++latest;
    var body = new URLSearchParams(new FormData(form));
    body.delete('action');
    fetch('/admin/group-preview', { method: 'POST', body: body, credentials: 'same-origin', redirect: 'error' })
      .then(function (r) {
        if (r.status !== 200 && r.status !== 400) throw new Error('preview: ' + r.status);
        return r.text();
      })
      .then(function (html) {
        // The fragment is rendered and escaped by the server's template.
        if (mine === latest) box.innerHTML = html;
      })
      .catch(function () { /* the Preview button still works */ });
  }
  ['conditions', 'members'].forEach(function (id) {
    var el = document.getElementById(id);
    if (!el) return;
    el.addEventListener('input', function () {
      clearTimeout(timer);
      timer = setTimeout(update, 300);
    });
  });
})();
