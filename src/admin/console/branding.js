// Live preview of the member-facing sign-in page while the Sign-in page settings are typed.
// Progressive enhancement: without JavaScript the form's "Preview" button does this.
(function () {
  var box = document.getElementById('brand-preview');
  if (!box) return;
  function field(id) { return document.getElementById(id); }
  function luminance(hex) {
    var c = [1, 3, 5].map(function (i) {
      var v = parseInt(hex.substr(i, 2), 16) / 255;
      return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  }
  function update() {
    var name = field('name').value.trim();
    if (name) field('pv-name').textContent = name;
    var color = field('primary_color').value.trim();
    var note = field('pv-contrast');
    if (/^#[0-9a-fA-F]{6}$/.test(color)) {
      var ratio = 1.05 / (luminance(color) + 0.05);
      var min = parseFloat(box.getAttribute('data-min-contrast'));
      if (ratio >= min) {
        box.style.setProperty('--brand', color);
        note.textContent = '';
      } else {
        note.textContent = color + ' is too light for white text (contrast ' + ratio.toFixed(1) +
          ':1, at least ' + min + ':1 is needed); the preview keeps the last readable colour.';
      }
    }
    var logo = field('logo_url').value.trim();
    var img = field('pv-logo');
    if (/^https:\/\/[^\s]+$/.test(logo)) { img.src = logo; img.hidden = false; }
    else if (!logo) { img.hidden = true; img.removeAttribute('src'); }
    var support = field('support_email').value.trim();
    field('pv-support').hidden = !support;
    field('pv-support-email').textContent = support;
    field('pv-privacy').hidden = !/^https:\/\//.test(field('privacy_url').value.trim());
  }
  ['name', 'logo_url', 'primary_color', 'support_email', 'privacy_url'].forEach(function (id) {
    var el = field(id);
    if (el) el.addEventListener('input', update);
  });
})();
