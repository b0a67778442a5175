//! How the member-facing pages and e-mails look: the association's name, logo, primary colour,
//! support e-mail and privacy-policy link (the console's Sign-in page settings), stored in the
//! database (one row of `branding`) so every instance shows the same; and in which language
//! they speak ([`i18n`]). Every change is recorded in the audit log.

pub mod i18n;

use serde_json::json;

use crate::change_log::{Change, Event};
use crate::db::{now_ms, Store, StoreError};

/// Longest association name shown on the pages.
pub const MAX_NAME_CHARS: usize = 80;
/// Longest logo or privacy-policy URL.
const MAX_URL_CHARS: usize = 2000;
/// WCAG 2 AA contrast for normal text: white text on the primary colour needs at least this.
pub const MIN_CONTRAST: f64 = 4.5;

/// The branding in force (checked: see [`BrandingInput::check`]).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Branding {
    pub name: String,
    /// `https://` or empty.
    pub logo_url: String,
    /// `#rrggbb`, lower case, with enough contrast for white text.
    pub primary_color: String,
    /// Empty when not given.
    pub support_email: String,
    /// `https://` or empty.
    pub privacy_url: String,
}

impl Default for Branding {
    fn default() -> Self {
        Branding {
            name: "Guildgate".into(),
            logo_url: String::new(),
            primary_color: "#1f5f99".into(),
            support_email: String::new(),
            privacy_url: String::new(),
        }
    }
}

/// The fields of the form, as typed.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct BrandingInput {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub logo_url: String,
    #[serde(default)]
    pub primary_color: String,
    #[serde(default)]
    pub support_email: String,
    #[serde(default)]
    pub privacy_url: String,
}

impl From<&Branding> for BrandingInput {
    fn from(b: &Branding) -> Self {
        BrandingInput {
            name: b.name.clone(),
            logo_url: b.logo_url.clone(),
            primary_color: b.primary_color.clone(),
            support_email: b.support_email.clone(),
            privacy_url: b.privacy_url.clone(),
        }
    }
}

/// A field of the form, to put its message beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Name,
    LogoUrl,
    PrimaryColor,
    SupportEmail,
    PrivacyUrl,
}

/// Why a field was refused, for the person who typed it.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub field: Field,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BrandingError {
    #[error("branding refused: {}", .0.iter().map(|e| e.message.as_str()).collect::<Vec<_>>().join("; "))]
    Refused(Vec<FieldError>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl BrandingError {
    /// The message for `field`, if it was refused.
    pub fn message_for(&self, field: Field) -> Option<&str> {
        match self {
            BrandingError::Refused(errors) => errors
                .iter()
                .find(|e| e.field == field)
                .map(|e| e.message.as_str()),
            BrandingError::Store(_) => None,
        }
    }
}

impl BrandingInput {
    /// The branding these fields give, or every field's reason for refusing it.
    pub fn check(&self) -> Result<Branding, BrandingError> {
        let mut errors = Vec::new();
        let mut refuse = |field, message: String| errors.push(FieldError { field, message });
        let name = self.name.trim().to_string();
        if name.is_empty() {
            refuse(Field::Name, "The association's name is required.".into());
        } else if name.chars().count() > MAX_NAME_CHARS {
            refuse(
                Field::Name,
                format!(
                    "The name is too long ({} characters): at most {MAX_NAME_CHARS}.",
                    name.chars().count()
                ),
            );
        } else if name.chars().any(char::is_control) {
            refuse(
                Field::Name,
                "The name must not contain control characters.".into(),
            );
        }
        let logo_url = https_url(&self.logo_url, "logo").unwrap_or_else(|m| {
            refuse(Field::LogoUrl, m);
            String::new()
        });
        let privacy_url = https_url(&self.privacy_url, "privacy-policy link").unwrap_or_else(|m| {
            refuse(Field::PrivacyUrl, m);
            String::new()
        });
        let primary_color = match parse_color(&self.primary_color) {
            None => {
                refuse(
                    Field::PrimaryColor,
                    format!(
                        "{:?} is not a colour: write it as # and six hexadecimal digits, e.g. #1f5f99.",
                        self.primary_color.trim()
                    ),
                );
                String::new()
            }
            Some(rgb) => {
                let ratio = contrast_with_white(rgb);
                if ratio < MIN_CONTRAST {
                    refuse(
                        Field::PrimaryColor,
                        format!(
                            "{} is too light for white text (contrast {ratio:.1}:1, at least \
                             {MIN_CONTRAST}:1 is needed to stay readable): choose a darker \
                             colour, e.g. {}.",
                            hex(rgb),
                            hex(darkened(rgb))
                        ),
                    );
                }
                hex(rgb)
            }
        };
        let support_email = self.support_email.trim().to_string();
        if !support_email.is_empty()
            && (support_email.len() > 254 || !email_address::EmailAddress::is_valid(&support_email))
        {
            refuse(
                Field::SupportEmail,
                format!("{support_email:?} is not an e-mail address."),
            );
        }
        if !errors.is_empty() {
            return Err(BrandingError::Refused(errors));
        }
        Ok(Branding {
            name,
            logo_url,
            primary_color,
            support_email,
            privacy_url,
        })
    }
}

/// An empty value, or an absolute `https://` URL with a host.
fn https_url(value: &str, what: &str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(String::new());
    }
    if value.chars().count() > MAX_URL_CHARS {
        return Err(format!(
            "The {what} address is too long: at most {MAX_URL_CHARS} characters."
        ));
    }
    match url::Url::parse(value) {
        Ok(url) if url.scheme() == "https" && url.host_str().is_some() => Ok(url.to_string()),
        Ok(_) => Err(format!(
            "The {what} address must start with https:// (members' browsers refuse other content on a secure page)."
        )),
        Err(_) => Err(format!("The {what} address is not a URL: write it as https://...")),
    }
}

/// `#rrggbb` (or `#rgb`), any case, as red, green and blue.
pub fn parse_color(value: &str) -> Option<[u8; 3]> {
    let digits = value.trim().strip_prefix('#')?;
    if !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let channel = |s: &str| u8::from_str_radix(s, 16).ok();
    match digits.len() {
        6 => Some([
            channel(&digits[0..2])?,
            channel(&digits[2..4])?,
            channel(&digits[4..6])?,
        ]),
        3 => {
            let d: Vec<u8> = digits
                .chars()
                .filter_map(|c| channel(&c.to_string()))
                .collect();
            Some([d[0] * 17, d[1] * 17, d[2] * 17])
        }
        _ => None,
    }
}

fn hex([r, g, b]: [u8; 3]) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// WCAG 2 relative luminance.
fn luminance(rgb: [u8; 3]) -> f64 {
    let linear = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * linear(rgb[0]) + 0.7152 * linear(rgb[1]) + 0.0722 * linear(rgb[2])
}

/// The contrast ratio of white text on `rgb` (1 to 21).
pub fn contrast_with_white(rgb: [u8; 3]) -> f64 {
    1.05 / (luminance(rgb) + 0.05)
}

/// The same hue darkened just enough for white text.
fn darkened(rgb: [u8; 3]) -> [u8; 3] {
    let mut scale = 1.0;
    loop {
        let c = rgb.map(|v| (f64::from(v) * scale) as u8);
        if contrast_with_white(c) >= MIN_CONTRAST || scale <= 0.0 {
            return c;
        }
        scale -= 0.02;
    }
}

impl Store {
    /// The branding in force: the saved one, or the defaults.
    pub async fn branding(&self) -> Result<Branding, StoreError> {
        let row: Option<Branding> = sqlx::query_as(
            "SELECT name, logo_url, primary_color, support_email, privacy_url FROM branding \
             WHERE id = 1",
        )
        .fetch_optional(self.pool())
        .await?;
        Ok(row.unwrap_or_default())
    }

    /// Checks and saves the branding, recording what changed in the audit log.
    pub async fn save_branding(
        &self,
        actor: &str,
        input: &BrandingInput,
    ) -> Result<Branding, BrandingError> {
        let branding = input.check()?;
        let before = self.branding().await?;
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO branding (id, name, logo_url, primary_color, support_email, privacy_url, \
             updated_at) VALUES (1, $1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET \
             name = excluded.name, logo_url = excluded.logo_url, \
             primary_color = excluded.primary_color, support_email = excluded.support_email, \
             privacy_url = excluded.privacy_url, updated_at = excluded.updated_at",
        )
        .bind(&branding.name)
        .bind(&branding.logo_url)
        .bind(&branding.primary_color)
        .bind(&branding.support_email)
        .bind(&branding.privacy_url)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        let mut changed = serde_json::Map::new();
        for (key, old, new) in [
            ("name", &before.name, &branding.name),
            ("logo_url", &before.logo_url, &branding.logo_url),
            (
                "primary_color",
                &before.primary_color,
                &branding.primary_color,
            ),
            (
                "support_email",
                &before.support_email,
                &branding.support_email,
            ),
            ("privacy_url", &before.privacy_url, &branding.privacy_url),
        ] {
            if old != new {
                changed.insert(key.into(), json!({ "from": old, "to": new }));
            }
        }
        Change::new(actor, Event::BrandingUpdated, "branding")
            .detail(serde_json::Value::Object(changed))
            .record(&mut tx)
            .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(branding)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str, logo: &str, color: &str) -> BrandingInput {
        BrandingInput {
            name: name.into(),
            logo_url: logo.into(),
            primary_color: color.into(),
            ..BrandingInput::default()
        }
    }

    #[test]
    fn good_branding_is_normalised() {
        let b = input(
            " North Guild ",
            "https://cdn.example.org/logo.png",
            "#1F5F99",
        )
        .check()
        .unwrap();
        assert_eq!(b.name, "North Guild");
        assert_eq!(b.primary_color, "#1f5f99");
        assert_eq!(b.logo_url, "https://cdn.example.org/logo.png");
        assert!(Branding::default() == BrandingInput::from(&Branding::default()).check().unwrap());
    }

    #[test]
    fn bad_fields_are_refused_each_with_its_message() {
        let long = "x".repeat(MAX_NAME_CHARS + 1);
        let e = BrandingInput {
            support_email: "not an address".into(),
            privacy_url: "javascript:alert(1)".into(),
            ..input(&long, "http://cdn.example.org/logo.png", "blue")
        }
        .check()
        .unwrap_err();
        assert!(e.message_for(Field::Name).unwrap().contains("too long"));
        assert!(e.message_for(Field::LogoUrl).unwrap().contains("https://"));
        assert!(e
            .message_for(Field::PrimaryColor)
            .unwrap()
            .contains("not a colour"));
        assert!(e.message_for(Field::SupportEmail).is_some());
        assert!(e.message_for(Field::PrivacyUrl).is_some());
    }

    #[test]
    fn a_colour_too_light_for_white_text_is_refused_with_a_darker_one_offered() {
        let e = input("A", "", "#ffcc00").check().unwrap_err();
        let message = e.message_for(Field::PrimaryColor).unwrap();
        assert!(message.contains("too light"), "{message}");
        let offered = message
            .rsplit("e.g. ")
            .next()
            .unwrap()
            .trim_end_matches('.');
        let rgb = parse_color(offered).unwrap();
        assert!(contrast_with_white(rgb) >= MIN_CONTRAST, "{offered}");
        assert!(input("A", "", offered).check().is_ok());
        // Black on white is 21:1, white on white 1:1.
        assert!((contrast_with_white([0, 0, 0]) - 21.0).abs() < 0.01);
        assert!((contrast_with_white([255, 255, 255]) - 1.0).abs() < 0.01);
        assert_eq!(parse_color("#abc"), Some([0xaa, 0xbb, 0xcc]));
        assert_eq!(parse_color("#12345g"), None);
    }
}
