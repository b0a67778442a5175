//! The Add person, Add company and Edit pages: every field the CSV import knows and every
//! custom field of the member's kind. What is sent is written through the import's checks and
//! writes ([`Store::import_rows`](crate::db::Store::import_rows)), so a member typed here is
//! held to exactly the rules of a CSV row or an API call; when any field is wrong nothing is
//! saved and the form comes back with what was typed and each problem beside its field.

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;

use super::member_url;
use crate::admin::console::{Admin, Chrome, ConsoleResult, Shown};
use crate::custom_fields::CustomField;
use crate::db::StoreError;
use crate::import::{row_from_form, Expect, ImportError, RowProblem, FIELD_PREFIX, KEY_COLUMN};
use crate::members::{Kind, Member};
use crate::web::csrf::CsrfForm;

/// The fields only a person's form has, first on it.
const PERSON_OWN_FIELDS: &[(&str, &str)] = &[
    ("first_name", "First name"),
    ("last_name", "Last name"),
    ("email", "E-mail"),
    ("phone", "Phone"),
    ("company_key", "Company (its member key)"),
];

/// The fields only a company's form has, first on it.
const COMPANY_OWN_FIELDS: &[(&str, &str)] = &[
    ("name", "Company name"),
    ("email", "E-mail"),
    ("phone", "Phone"),
];

/// The fields both forms have, after each kind's own; `None` where the label depends on the
/// kind (see [`fields_of`]).
const SHARED_FIELDS: &[(&str, Option<&str>)] = &[
    ("address_line1", Some("Address")),
    ("city", Some("City")),
    ("state", Some("State or region")),
    ("postal_code", Some("Postal code")),
    ("country", Some("Country")),
    ("member_type", Some("Member type")),
    ("membership_status", Some("Membership status")),
    ("member_since", Some("Member since")),
    ("membership_expires", Some("Membership expires")),
    ("website_url", Some("Website")),
    ("profile_image_url", None),
    ("linkedin_url", Some("LinkedIn URL")),
    ("twitter_url", Some("X (Twitter) URL")),
    ("facebook_url", Some("Facebook URL")),
    ("bio", None),
];

/// The label of a shared field whose label depends on the kind.
fn kind_label(kind: Kind, name: &'static str) -> &'static str {
    match (kind, name) {
        (Kind::Person, "profile_image_url") => "Profile image URL",
        (Kind::Company, "profile_image_url") => "Logo URL",
        (Kind::Person, "bio") => "Bio",
        (Kind::Company, "bio") => "Description",
        _ => name,
    }
}

/// The member fields of a kind's form, in order, with their labels.
fn fields_of(kind: Kind) -> Vec<(&'static str, &'static str)> {
    let own = match kind {
        Kind::Person => PERSON_OWN_FIELDS,
        Kind::Company => COMPANY_OWN_FIELDS,
    };
    let shared = SHARED_FIELDS
        .iter()
        .map(|&(name, label)| (name, label.unwrap_or_else(|| kind_label(kind, name))));
    own.iter().copied().chain(shared).collect()
}

/// The member's filled-in fields with their labels, for the member page.
pub(super) fn details(member: &Member) -> Vec<(String, String)> {
    let data = serde_json::to_value(&member.data).unwrap_or_default();
    fields_of(member.data.kind)
        .iter()
        .filter_map(|(name, label)| {
            let value = data.get(*name)?.as_str()?;
            Some((label.to_string(), value.to_string()))
        })
        .collect()
}

/// One input of the form.
pub struct Input {
    /// The form field's name: the CSV column (`field.<key>` for a custom field).
    pub name: String,
    /// The element's id (the name, with `-` for `.`).
    pub id: String,
    pub label: String,
    /// `text`, `email`, `url`, `textarea` or `select`.
    pub control: &'static str,
    /// The format a text input expects, when it has one (dates).
    pub placeholder: &'static str,
    pub value: String,
    /// A select's choices (the first is empty: no value).
    pub options: Vec<String>,
    /// What is wrong with the value sent.
    pub errors: Vec<String>,
}

impl Input {
    /// Whether `option` is the value (a select shows it chosen).
    pub fn is_value(&self, option: &str) -> bool {
        self.value == option
    }

    /// A stored value a select does not offer (a choice removed since): offered too, so that
    /// saving the form does not empty it unasked.
    pub fn value_not_offered(&self) -> bool {
        !self.value.is_empty() && !self.options.contains(&self.value)
    }
}

fn control_of(name: &str) -> &'static str {
    match name {
        "email" => "email",
        "bio" => "textarea",
        n if n.ends_with("_url") => "url",
        _ => "text",
    }
}

const DATE_FORMAT: &str = "YYYY-MM-DD";

fn placeholder_of(name: &str) -> &'static str {
    match name {
        "member_since" | "membership_expires" => DATE_FORMAT,
        _ => "",
    }
}

/// The inputs of a `kind`'s form: its member fields, then its custom fields; each with its
/// value in `values` (by name) and its problems in `errors` (by name).
fn inputs(
    kind: Kind,
    fields: &[CustomField],
    values: &HashMap<String, String>,
    errors: &mut BTreeMap<String, Vec<String>>,
) -> Vec<Input> {
    let mut inputs: Vec<Input> = fields_of(kind)
        .iter()
        .map(|(name, label)| Input {
            name: name.to_string(),
            id: name.to_string(),
            label: label.to_string(),
            control: control_of(name),
            placeholder: placeholder_of(name),
            value: values.get(*name).cloned().unwrap_or_default(),
            options: Vec::new(),
            errors: errors.remove(*name).unwrap_or_default(),
        })
        .collect();
    for field in fields.iter().filter(|f| f.applies_to_kind(kind.as_str())) {
        let name = format!("{FIELD_PREFIX}{}", field.field_key);
        let (control, options) = match field.field_type.as_str() {
            "choice" => ("select", field.choice_list()),
            "boolean" => ("select", vec!["true".into(), "false".into()]),
            _ => ("text", Vec::new()),
        };
        let placeholder = if field.field_type == "date" {
            DATE_FORMAT
        } else {
            ""
        };
        let options = std::iter::once(String::new()).chain(options).collect();
        inputs.push(Input {
            id: name.replace('.', "-"),
            label: field.name.clone(),
            control,
            placeholder,
            value: values.get(&name).cloned().unwrap_or_default(),
            options,
            errors: errors.remove(&name).unwrap_or_default(),
            name,
        });
    }
    inputs
}

#[derive(Template)]
#[template(path = "admin/member_form.html")]
struct MemberFormPage {
    chrome: Chrome,
    title: String,
    /// Where the form is sent.
    action: String,
    /// Adding: the member key is asked for; editing: it is shown.
    adding: bool,
    member_key: String,
    key_errors: Vec<String>,
    inputs: Vec<Input>,
    /// Where Cancel goes.
    back: String,
}

/// What the form page shows: the member's kind and key, what was typed (or stored), and the
/// problems found, by field.
struct Filled {
    kind: Kind,
    adding: bool,
    member_key: String,
    values: HashMap<String, String>,
    problems: Vec<RowProblem>,
}

impl Filled {
    /// The Edit form of `member` with these values, no problem found yet.
    fn editing(member: Member, values: HashMap<String, String>) -> Filled {
        Filled {
            kind: member.data.kind,
            adding: false,
            member_key: member.member_key,
            values,
            problems: Vec::new(),
        }
    }
}

async fn form_page(admin: Admin, filled: Filled, shown: Shown) -> ConsoleResult<Response> {
    let fields = admin.store().list_fields().await?;
    let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut general = Vec::new();
    for p in filled.problems {
        match p.field {
            Some(field) => errors.entry(field).or_default().push(p.message),
            None => general.push(p.message),
        }
    }
    let key_errors = errors.remove(KEY_COLUMN).unwrap_or_default();
    let inputs = inputs(filled.kind, &fields, &filled.values, &mut errors);
    // Problems of fields the form does not show (a kind's field sent by hand) go on top.
    general.extend(errors.into_values().flatten());
    let Shown { status, error } = shown;
    let error = error.into_iter().chain(general).collect::<Vec<_>>();
    let shown = match error.is_empty() {
        true => Shown::ok(),
        false => Shown::failed(status, error.join(" ")),
    };
    let kind = filled.kind;
    let (title, action, back) = if filled.adding {
        let title = match kind {
            Kind::Person => "Add person",
            Kind::Company => "Add company",
        };
        let action = format!("/admin/new/{kind}");
        (title.to_string(), action, "/admin/members".to_string())
    } else {
        let action = format!("{}/edit", member_url(&filled.member_key));
        let title = format!("Edit {}", filled.member_key);
        (title, action, member_url(&filled.member_key))
    };
    admin
        .page("members", shown, |chrome| MemberFormPage {
            chrome,
            title,
            action,
            adding: filled.adding,
            member_key: filled.member_key,
            key_errors,
            inputs,
            back,
        })
        .await
}

fn kind_of_path(kind: &str) -> ConsoleResult<Kind> {
    match kind {
        "person" => Ok(Kind::Person),
        "company" => Ok(Kind::Company),
        _ => Err(StoreError::NotFound(format!("page for adding a {kind}")).into()),
    }
}

/// The empty Add person or Add company form.
pub(in crate::admin::console) async fn new_page(
    admin: Admin,
    Path(kind): Path<String>,
) -> ConsoleResult<Response> {
    let filled = Filled {
        kind: kind_of_path(&kind)?,
        adding: true,
        member_key: String::new(),
        values: HashMap::new(),
        problems: Vec::new(),
    };
    form_page(admin, filled, Shown::ok()).await
}

/// The form's fields as sent (the CSRF token already taken out): the member key apart.
fn sent(mut form: BTreeMap<String, String>) -> (String, HashMap<String, String>) {
    let key = form.remove(KEY_COLUMN).unwrap_or_default();
    (key.trim().to_string(), form.into_iter().collect())
}

/// Writes one member from a form, as `expect` says; where the form goes back to on a problem.
async fn write(
    admin: Admin,
    mut filled: Filled,
    expect: Expect,
    notice: &str,
) -> ConsoleResult<Response> {
    let mut columns: Vec<(String, String)> = filled
        .values
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    columns.sort();
    if filled.adding {
        columns.push(("kind".into(), filled.kind.as_str().into()));
    }
    let batch = row_from_form(&filled.member_key, &columns);
    let written = admin
        .store()
        .import_rows(&admin.actor(), batch, false, expect)
        .await;
    let shown = match written {
        Ok(_) => {
            let to = member_url(&filled.member_key);
            return admin.done(notice, &to).await;
        }
        Err(ImportError::Rejected(problems)) => {
            filled.problems = problems;
            Shown::failed(
                StatusCode::BAD_REQUEST,
                "Nothing was saved: correct the fields marked below.",
            )
        }
        // A member key taken meanwhile (or from the start): beside the key.
        Err(ImportError::Store(StoreError::Conflict(message))) if filled.adding => {
            filled.problems = vec![RowProblem {
                line: 1,
                field: Some(KEY_COLUMN.into()),
                message,
            }];
            Shown::failed(
                StatusCode::CONFLICT,
                "Nothing was saved: correct the fields marked below.",
            )
        }
        Err(ImportError::Store(e)) => super::account::refused(e)?,
    };
    form_page(admin, filled, shown).await
}

/// Adds a person or a company.
pub(in crate::admin::console) async fn create(
    admin: Admin,
    Path(kind): Path<String>,
    CsrfForm(form): CsrfForm<BTreeMap<String, String>>,
) -> ConsoleResult<Response> {
    let kind = kind_of_path(&kind)?;
    let (member_key, values) = sent(form);
    let filled = Filled {
        kind,
        adding: true,
        member_key,
        values,
        problems: Vec::new(),
    };
    let notice = match kind {
        Kind::Person => "Person added.",
        Kind::Company => "Company added.",
    };
    write(admin, filled, Expect::New, notice).await
}

/// The Edit form of a member, filled with what is stored.
pub(in crate::admin::console) async fn edit_page(
    admin: Admin,
    Path(key): Path<String>,
) -> ConsoleResult<Response> {
    let member = admin.store().member(&key).await?;
    let data = serde_json::to_value(&member.data).unwrap_or_default();
    let mut values: HashMap<String, String> = data
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect();
    values.remove("kind");
    for (field, value) in admin.store().field_values(&member.id).await? {
        values.insert(format!("{FIELD_PREFIX}{field}"), value);
    }
    let filled = Filled::editing(member, values);
    form_page(admin, filled, Shown::ok()).await
}

/// Saves the Edit form: the fields it shows (an empty one is emptied); the kind stays.
pub(in crate::admin::console) async fn edit(
    admin: Admin,
    Path(key): Path<String>,
    CsrfForm(form): CsrfForm<BTreeMap<String, String>>,
) -> ConsoleResult<Response> {
    let member = admin.store().member(&key).await?;
    let (_, values) = sent(form);
    let filled = Filled::editing(member, values);
    write(admin, filled, Expect::Existing, "Member saved.").await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::members::MEMBER_FIELDS;

    /// Together the two forms ask for every member field the import knows but the kind (which
    /// the page sets).
    #[test]
    fn the_forms_hold_every_member_field() {
        let mut shown: Vec<&str> = fields_of(Kind::Person)
            .into_iter()
            .chain(fields_of(Kind::Company))
            .map(|(n, _)| n)
            .collect();
        shown.sort();
        shown.dedup();
        let mut known: Vec<&str> = MEMBER_FIELDS
            .iter()
            .copied()
            .filter(|f| *f != "kind")
            .collect();
        known.sort();
        assert_eq!(shown, known);
    }

    #[test]
    fn problems_go_beside_their_field() {
        let mut errors = BTreeMap::new();
        errors.insert("email".to_string(), vec!["bad".to_string()]);
        errors.insert("name".to_string(), vec!["a person's".to_string()]);
        let inputs = inputs(Kind::Person, &[], &HashMap::new(), &mut errors);
        // A field the person's form does not show keeps its problem, for the top of the page.
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors.contains_key("name"));
        let email = inputs.iter().find(|i| i.name == "email").unwrap();
        assert_eq!(email.errors, vec!["bad".to_string()]);
        assert_eq!(email.control, "email");
    }
}
