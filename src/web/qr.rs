//! QR codes drawn on the server as inline SVG (the `qrcode` crate): the enrolment page shows
//! the `otpauth://` address as one, with no script and nothing fetched.

use qrcode::render::svg;
use qrcode::QrCode;

/// `text` as an `<svg>` element labelled `label` (for screen readers), or `None` when it is too
/// long for a QR code.
pub fn svg(text: &str, label: &str) -> Option<String> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    let image = code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    // The renderer writes an XML declaration first; inline SVG starts at the element.
    let start = image.find("<svg")?;
    let label = label
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    Some(image[start..].replacen(
        "<svg ",
        &format!("<svg role=\"img\" aria-label=\"{label}\" "),
        1,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_an_inline_labelled_svg() {
        let image = svg("otpauth://totp/X:a?secret=GEZDGNBV", "QR \"code\"").unwrap();
        assert!(
            image.starts_with("<svg role=\"img\" aria-label=\"QR &quot;code&quot;\" "),
            "{image}"
        );
        assert!(image.trim_end().ends_with("</svg>"));
        assert!(!image.contains("<script"));
    }
}
