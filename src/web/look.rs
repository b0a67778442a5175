//! How a member-facing page looks and speaks: the association's branding and the language of
//! the request, settled once per request by [`layer`] and read by the templates through
//! [`current`] (so that no handler, and no error page, has to carry them along). Outside a
//! request of the provider's browser routes (the console, unit tests) it is the default
//! branding in English.

use std::sync::{Arc, OnceLock};

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;

use crate::branding::i18n::{self, Lang};
use crate::branding::Branding;
use crate::db::Store;
use crate::passwords;

/// The query parameter that names the language (OIDC Core's `ui_locales`).
pub const UI_LOCALES: &str = "ui_locales";

/// A link of the language switch.
#[derive(Debug, Clone)]
pub struct LangLink {
    pub tag: String,
    pub name: String,
    pub url: String,
    pub current: bool,
}

/// The branding and language of this request's page.
#[derive(Debug, Clone, Default)]
pub struct Look {
    pub brand: Branding,
    pub lang: Lang,
    /// Whether the language was asked for with `ui_locales` (rather than `Accept-Language`).
    pub chosen: bool,
    /// The language switch of a page shown by a `GET` (its own address in each language).
    pub switch: Vec<LangLink>,
    /// For a page answering a form (a `POST`, which has no address to reload): the address of
    /// the same page as a `GET` (the sign-in page of the authorization request, the account
    /// page...), set by the handler through [`reload_at`]; the language switch links to it.
    reload: OnceLock<String>,
}

tokio::task_local! {
    static LOOK: Arc<Look>;
}

/// The look of the page being rendered.
pub fn current() -> Arc<Look> {
    LOOK.try_with(Arc::clone).unwrap_or_default()
}

impl Look {
    /// The message `id` in the page's language.
    pub fn t(&self, id: &str) -> String {
        self.lang.t(id)
    }

    /// The message `id` with one argument.
    pub fn t1(&self, id: &str, name: &'static str, value: &str) -> String {
        self.lang.t_with(id, &[(name, value)])
    }

    /// The message `id` with two arguments.
    pub fn t2(&self, id: &str, n1: &'static str, v1: &str, n2: &'static str, v2: &str) -> String {
        self.lang.t_with(id, &[(n1, v1), (n2, v2)])
    }

    /// Why `password` breaks the policy ([`passwords::check_policy`]), in the page's language.
    pub fn password_problem(&self, password: &str) -> Option<String> {
        passwords::check_policy(password).err()?;
        Some(if password.chars().count() < passwords::MIN_LENGTH {
            self.t1(
                "password-too-short",
                "min",
                &passwords::MIN_LENGTH.to_string(),
            )
        } else {
            self.t("password-too-long")
        })
    }

    /// The page's language tag, for `<html lang>`.
    pub fn lang_tag(&self) -> String {
        self.lang.tag()
    }

    /// `path` as a form's action or a link: naming the page's language when `ui_locales` chose
    /// it, so that the answer speaks it too (`Accept-Language` comes with every request anyway).
    pub fn action(&self, path: &str) -> String {
        if self.chosen {
            with_ui_locales(path, &self.lang.tag())
        } else {
            path.to_string()
        }
    }

    /// The links of the language switch: this page's own address in each language, or, on a
    /// page answering a form, the address its handler gave with [`reload_at`] (none if it gave
    /// none).
    pub fn switch_links(&self) -> Vec<LangLink> {
        if !self.switch.is_empty() {
            return self.switch.clone();
        }
        self.reload
            .get()
            .map(|here| links(here, &self.lang))
            .unwrap_or_default()
    }

    /// The primary colour (`#rrggbb`, dark enough for white text), for the page's style.
    pub fn primary(&self) -> &str {
        &self.brand.primary_color
    }
}

/// Names `path` (a path and query on this server, shown by a `GET`) as the address of the page
/// this request answers with, for its language switch: a page answering a form has no address
/// of its own to reload. The first call wins; outside a request it does nothing.
pub fn reload_at(path: &str) {
    let _ = LOOK.try_with(|look| look.reload.set(path.to_string()));
}

/// The language switch for the page at `here`: `here` in each language offered.
fn links(here: &str, lang: &Lang) -> Vec<LangLink> {
    i18n::supported()
        .into_iter()
        .map(|l| LangLink {
            url: with_ui_locales(here, &l.tag()),
            name: l.own_name(),
            current: &l == lang,
            tag: l.tag(),
        })
        .collect()
}

/// Remembers the language of this request's page as the language of `account_id`, so that
/// the mails an administrator starts for that member speak it. A failure is logged, never
/// shown: the member's request goes on.
pub async fn remember_language(store: &Store, account_id: &str) {
    let tag = current().lang_tag();
    if let Err(e) = store.remember_language(account_id, &tag).await {
        tracing::warn!(error = %e, account_id, "the member's language could not be stored");
    }
}

/// `uri` (a path and query) with `ui_locales` set to `tag`, replacing any there.
fn with_ui_locales(uri: &str, tag: &str) -> String {
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        if name != UI_LOCALES {
            out.append_pair(&name, &value);
        }
    }
    out.append_pair(UI_LOCALES, tag);
    format!("{path}?{}", out.finish())
}

/// Settles the look of a request of the provider's browser pages, and keeps the language
/// across the redirects to its own pages that follow a form.
pub async fn layer(State(store): State<Store>, request: Request, next: Next) -> Response {
    let uri = request.uri().clone();
    let ui_locales = uri.query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(name, _)| name == UI_LOCALES)
            .map(|(_, v)| v.into_owned())
    });
    let accept = request
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    let lang = i18n::negotiate(ui_locales.as_deref(), accept);
    let brand = store.branding().await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "branding could not be read; the defaults are shown");
        Branding::default()
    });
    let here = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_string(), |pq| pq.as_str().to_string());
    let switch = if request.method() == Method::GET {
        links(&here, &lang)
    } else {
        Vec::new()
    };
    let chosen = i18n::from_ui_locales(ui_locales.as_deref().unwrap_or("")).map(|l| l.tag());
    let look = Arc::new(Look {
        brand,
        lang,
        chosen: chosen.is_some(),
        switch,
        reload: OnceLock::new(),
    });
    let mut response = LOOK.scope(look, next.run(request)).await;
    // A redirect to one of our pages keeps a language chosen by `ui_locales`.
    if let Some(tag) = chosen {
        let local = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .filter(|l| l.starts_with('/') && !l.starts_with("//"))
            .filter(|l| !l.contains("ui_locales="))
            .map(|l| with_ui_locales(l, &tag));
        if let Some(value) = local.and_then(|l| HeaderValue::from_str(&l).ok()) {
            response.headers_mut().insert(header::LOCATION, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_replaces_the_one_in_the_address() {
        assert_eq!(with_ui_locales("/account", "fr"), "/account?ui_locales=fr");
        assert_eq!(
            with_ui_locales("/authorize?client_id=a&ui_locales=en&state=x%20y", "fr"),
            "/authorize?client_id=a&state=x+y&ui_locales=fr"
        );
    }

    #[test]
    fn outside_a_request_the_look_is_the_default_in_english() {
        let look = current();
        assert_eq!(look.brand, Branding::default());
        assert_eq!(look.lang_tag(), "en");
        assert_eq!(look.action("/login"), "/login");
        let chosen = Look {
            chosen: true,
            ..Look::default()
        };
        assert_eq!(chosen.action("/login"), "/login?ui_locales=en");
    }
}
