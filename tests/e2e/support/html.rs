//! Reading the pages the way a form-filling client does: hidden fields and CSRF tokens.

/// The HTML entities the templates write, back to characters.
fn unescape(s: &str) -> String {
    s.replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The hidden fields of the (only) form in a page.
pub fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    for part in html.split("<input type=\"hidden\" ").skip(1) {
        let name = part
            .split("name=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or_default();
        let value = part
            .split("value=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or_default();
        fields.push((unescape(name), unescape(value)));
    }
    fields
}

/// The value of the field `name` (the first one in the page).
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field in:\n{html}"))
        + marker.len();
    html[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The CSRF token of the page's first form.
pub fn csrf_of(html: &str) -> String {
    hidden(html, "csrf_token")
}

/// The `href` of the language switch's link to `tag` on `page`, unescaped.
pub fn switch_link(page: &str, tag: &str) -> String {
    let at = page
        .find(&format!("hreflang=\"{tag}\""))
        .unwrap_or_else(|| panic!("no switch to {tag}: {page}"));
    let start = page[..at].rfind("href=\"").unwrap() + 6;
    page[start..]
        .split('"')
        .next()
        .unwrap()
        .replace("&#38;", "&")
}
