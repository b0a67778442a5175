//! The languages of the member-facing pages and e-mails: Fluent message catalogues in
//! `locales/<language>/main.ftl`, built into the binary. The languages offered are the
//! catalogues present, so adding one (Spanish: `locales/es/main.ftl`) needs no code.
//!
//! The language of a request is the first of `ui_locales` (OIDC Core 3.1.2.1, in order of
//! preference) that a catalogue serves, then the best of `Accept-Language`, then English. An
//! unknown or malformed value is passed over, never an error.

use std::borrow::Cow;
use std::collections::HashMap;

use fluent_templates::fluent_bundle::FluentValue;
use fluent_templates::{LanguageIdentifier, Loader};

fluent_templates::static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "en",
        // No Unicode isolation marks around arguments: the texts go into HTML and plain-text
        // mail, and every language offered is written left to right.
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

/// A language a catalogue serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lang(LanguageIdentifier);

impl Default for Lang {
    fn default() -> Self {
        Lang::english()
    }
}

impl Lang {
    pub fn english() -> Lang {
        Lang(fluent_templates::langid!("en"))
    }

    /// Its BCP 47 tag (`en`, `fr`), as `ui_locales` and `lang` attributes write it.
    pub fn tag(&self) -> String {
        self.0.to_string()
    }

    /// The language's own name for itself (`Français`), for the language switch.
    pub fn own_name(&self) -> String {
        self.t("language-name")
    }

    /// The message `id` in this language (or English, where this catalogue lacks it).
    pub fn t(&self, id: &str) -> String {
        LOCALES.try_lookup(&self.0, id).unwrap_or_else(|| {
            tracing::error!(id, "no such message in the catalogues");
            id.to_string()
        })
    }

    /// The message `id` with its arguments.
    pub fn t_with(&self, id: &str, args: &[(&'static str, &str)]) -> String {
        let args: HashMap<Cow<'static, str>, FluentValue> = args
            .iter()
            .map(|(name, value)| (Cow::Borrowed(*name), FluentValue::from(value.to_string())))
            .collect();
        LOCALES
            .try_lookup_with_args(&self.0, id, &args)
            .unwrap_or_else(|| {
                tracing::error!(id, "no such message in the catalogues");
                id.to_string()
            })
    }

    /// A moment (milliseconds since the epoch) as this language writes a date and a time, in
    /// UTC: the month's name and the order of the parts come from the catalogue.
    pub fn date_time(&self, ms: i64) -> String {
        let Ok(at) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        else {
            return ms.to_string();
        };
        let month = self.t(&format!("month-{}", u8::from(at.month())));
        let clock = format!("{:02}:{:02}", at.hour(), at.minute());
        self.t_with(
            "date-time",
            &[
                ("day", &at.day().to_string()),
                ("month", &month),
                ("year", &at.year().to_string()),
                ("time", &clock),
            ],
        )
    }

    /// The message `id` with a number argument (plural forms follow the language's rules).
    pub fn t_count(&self, id: &str, name: &'static str, n: u64) -> String {
        let args: HashMap<Cow<'static, str>, FluentValue> =
            HashMap::from([(Cow::Borrowed(name), FluentValue::from(n))]);
        LOCALES
            .try_lookup_with_args(&self.0, id, &args)
            .unwrap_or_else(|| id.to_string())
    }
}

/// Every language offered, English first, then by tag.
pub fn supported() -> Vec<Lang> {
    let mut langs: Vec<Lang> = LOCALES.locales().cloned().map(Lang).collect();
    langs.sort_by_key(|l| (l.0 != fluent_templates::langid!("en"), l.tag()));
    langs
}

/// The offered language for one requested tag: the same tag, or the same language without
/// the region (`fr-CA` gives `fr`).
fn matching(tag: &str) -> Option<Lang> {
    let wanted: LanguageIdentifier = tag.trim().parse().ok()?;
    let offered = supported();
    offered
        .iter()
        .find(|l| l.0 == wanted)
        .or_else(|| offered.iter().find(|l| l.0.language == wanted.language))
        .cloned()
}

/// The first language of `ui_locales` (space-separated, in order of preference) offered.
pub fn from_ui_locales(ui_locales: &str) -> Option<Lang> {
    ui_locales.split_whitespace().find_map(matching)
}

/// The best offered language of an `Accept-Language` header (RFC 9110 12.5.4).
pub fn from_accept_language(header: &str) -> Option<Lang> {
    let mut ranges: Vec<(f32, usize, &str)> = header
        .split(',')
        .enumerate()
        .filter_map(|(i, item)| {
            let mut parts = item.split(';');
            let tag = parts.next()?.trim();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (q > 0.0 && !tag.is_empty() && tag != "*").then_some((q, i, tag))
        })
        .collect();
    ranges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    ranges.into_iter().find_map(|(_, _, tag)| matching(tag))
}

/// The language of a request: `ui_locales` first, then `Accept-Language`, then English.
pub fn negotiate(ui_locales: Option<&str>, accept_language: Option<&str>) -> Lang {
    ui_locales
        .and_then(from_ui_locales)
        .or_else(|| accept_language.and_then(from_accept_language))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ui_locales_come_first_then_accept_language_then_english() {
        let fr = || Some(Lang(fluent_templates::langid!("fr")));
        assert_eq!(negotiate(Some("fr"), Some("en")), fr().unwrap());
        assert_eq!(negotiate(Some("xx-YY fr-CA en"), None), fr().unwrap());
        assert_eq!(
            negotiate(Some("xx"), Some("de;q=1, fr;q=0.8, en;q=0.5")),
            fr().unwrap()
        );
        assert_eq!(
            negotiate(Some("%%% not a tag"), Some("garbage;;q=")),
            Lang::english()
        );
        assert_eq!(negotiate(None, Some("fr;q=0, en")), Lang::english());
        assert_eq!(from_accept_language("en;q=0.2, fr-BE"), fr());
        assert_eq!(negotiate(None, None), Lang::english());
    }

    #[test]
    fn english_is_offered_first_and_each_language_names_itself() {
        let tags: Vec<String> = supported().iter().map(Lang::tag).collect();
        assert_eq!(tags.first().map(String::as_str), Some("en"));
        assert!(tags.contains(&"fr".to_string()));
        assert_eq!(from_ui_locales("fr").unwrap().own_name(), "Français");
        assert_eq!(Lang::english().own_name(), "English");
    }

    #[test]
    fn dates_are_written_in_each_language_s_own_way() {
        // 2026-12-06 14:05:09 UTC
        let ms = 1_796_565_909_000;
        assert_eq!(Lang::english().date_time(ms), "December 6, 2026, 14:05 UTC");
        let fr = from_ui_locales("fr").unwrap();
        assert_eq!(fr.date_time(ms), "le 6 décembre 2026 à 14:05 UTC");
        assert_eq!(Lang::english().date_time(i64::MAX), i64::MAX.to_string());
    }

    /// The message ids of a catalogue file.
    fn ids(text: &str) -> std::collections::BTreeSet<String> {
        text.lines()
            .filter(|l| l.starts_with(|c: char| c.is_ascii_lowercase()))
            .filter_map(|l| l.split_once(" =").map(|(id, _)| id.trim().to_string()))
            .collect()
    }

    #[test]
    fn every_catalogue_has_every_message_of_the_english_one() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("locales");
        let english = ids(&std::fs::read_to_string(dir.join("en/main.ftl")).unwrap());
        assert!(english.len() > 50, "{english:?}");
        for lang in supported() {
            let text = std::fs::read_to_string(dir.join(lang.tag()).join("main.ftl")).unwrap();
            let found = ids(&text);
            let missing: Vec<_> = english.difference(&found).collect();
            assert!(missing.is_empty(), "{} lacks {missing:?}", lang.tag());
        }
    }
}
