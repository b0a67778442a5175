//! How a group chooses its members: a static list of member keys, or conditions over member
//! data (`member_type = Regular | Student`, `field.chapter != North`), and the SQL the store
//! evaluates them with.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What a condition looks at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    Kind,
    MemberType,
    MembershipStatus,
    /// The member key of a person's company.
    Company,
    /// A custom field, by key.
    Field(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Equal to one of the values.
    In,
    /// Equal to none of the values (an empty value counts as none).
    NotIn,
}

/// One condition; a group's members meet all of its conditions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    pub subject: Subject,
    pub op: Op,
    pub values: Vec<String>,
}

impl Condition {
    /// Parses `subject=v1|v2` or `subject!=v1|v2`, where subject is `kind`, `member_type`,
    /// `membership_status`, `company` or `field.<key>`.
    pub fn parse(text: &str) -> Result<Condition, String> {
        let (subject, op, values) = if let Some((s, v)) = text.split_once("!=") {
            (s, Op::NotIn, v)
        } else if let Some((s, v)) = text.split_once('=') {
            (s, Op::In, v)
        } else {
            return Err(format!(
                "condition {text:?} must look like subject=value or subject!=value"
            ));
        };
        let subject = match subject.trim() {
            "kind" => Subject::Kind,
            "member_type" => Subject::MemberType,
            "membership_status" => Subject::MembershipStatus,
            "company" => Subject::Company,
            s => match s.strip_prefix("field.") {
                Some(key) if !key.is_empty() => Subject::Field(key.to_string()),
                _ => {
                    return Err(format!(
                        "unknown condition subject {s:?}: use kind, member_type, \
                         membership_status, company or field.<key>"
                    ))
                }
            },
        };
        let values: Vec<String> = values
            .split('|')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        if values.is_empty() {
            return Err(format!("condition {text:?} has no value"));
        }
        Ok(Condition {
            subject,
            op,
            values,
        })
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let subject = match &self.subject {
            Subject::Kind => "kind".to_string(),
            Subject::MemberType => "member_type".to_string(),
            Subject::MembershipStatus => "membership_status".to_string(),
            Subject::Company => "company".to_string(),
            Subject::Field(k) => format!("field.{k}"),
        };
        let op = match self.op {
            Op::In => "=",
            Op::NotIn => "!=",
        };
        write!(f, "{subject}{op}{}", self.values.join("|"))
    }
}

/// How a group chooses its members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Selection {
    /// These member keys.
    Static(Vec<String>),
    Conditions(Vec<Condition>),
}

impl Selection {
    /// The one parser of a selection as the CLI, the console and the API receive it: member
    /// keys or condition texts (see [`Condition::parse`]), not both. `None` means the part was
    /// not given; with neither given there is no selection (`Ok(None)`).
    pub fn from_parts(
        members: Option<Vec<String>>,
        conditions: Option<Vec<String>>,
    ) -> Result<Option<Selection>, String> {
        match (members, conditions) {
            (Some(_), Some(_)) => Err("give either members or conditions, not both".into()),
            (Some(keys), None) => Ok(Some(Selection::Static(keys))),
            (None, Some(texts)) => texts
                .iter()
                .map(|t| Condition::parse(t))
                .collect::<Result<Vec<_>, _>>()
                .map(|c| Some(Selection::Conditions(c))),
            (None, None) => Ok(None),
        }
    }

    /// [`Selection::from_parts`] for flags and form fields, where an empty list means "not
    /// given" and neither given is an empty static list.
    pub fn from_lists(members: Vec<String>, conditions: Vec<String>) -> Result<Selection, String> {
        let given = |v: Vec<String>| (!v.is_empty()).then_some(v);
        Ok(Selection::from_parts(given(members), given(conditions))?
            .unwrap_or(Selection::Static(Vec::new())))
    }
}

/// SQL for "member `m` meets every condition", with its bind values, numbered from `first`.
pub(super) fn conditions_sql(conditions: &[Condition], first: usize) -> (String, Vec<String>) {
    let mut binds: Vec<String> = Vec::new();
    let mut clauses = Vec::new();
    for c in conditions {
        let mut placeholders = Vec::new();
        let mut field_key = None;
        if let Subject::Field(key) = &c.subject {
            binds.push(key.clone());
            field_key = Some(format!("${}", first + binds.len() - 1));
        }
        for v in &c.values {
            binds.push(v.clone());
            placeholders.push(format!("${}", first + binds.len() - 1));
        }
        let list = placeholders.join(", ");
        let positive = match (&c.subject, field_key) {
            (Subject::Field(_), Some(key)) => format!(
                "EXISTS (SELECT 1 FROM custom_field_values v JOIN custom_fields f ON f.id = v.field_id \
                 WHERE v.member_id = m.id AND f.field_key = {key} AND v.value IN ({list}))"
            ),
            (Subject::Company, _) => format!(
                "m.company_id IN (SELECT co.id FROM members co WHERE co.kind = 'company' \
                 AND co.member_key IN ({list}))"
            ),
            (Subject::Kind, _) => format!("m.kind IN ({list})"),
            (Subject::MemberType, _) => format!("m.member_type IN ({list})"),
            _ => format!("m.membership_status IN ({list})"),
        };
        clauses.push(match c.op {
            Op::In => positive,
            // NOT (x IN ...) is NULL for a missing value; COALESCE makes "no value" count as
            // "not one of these".
            Op::NotIn => format!("NOT COALESCE(({positive}), FALSE)"),
        });
    }
    (clauses.join(" AND "), binds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_parse_and_print() {
        let c = Condition::parse("field.chapter = North | South").unwrap();
        assert_eq!(c.subject, Subject::Field("chapter".into()));
        assert_eq!(c.values, vec!["North", "South"]);
        assert_eq!(c.to_string(), "field.chapter=North|South");
        let c = Condition::parse("membership_status!=lapsed").unwrap();
        assert_eq!(c.op, Op::NotIn);
        assert!(Condition::parse("colour=red").is_err());
        assert!(Condition::parse("member_type=").is_err());
        assert!(Condition::parse("member_type").is_err());
    }

    #[test]
    fn a_selection_is_members_or_conditions() {
        let keys = vec!["m1".to_string()];
        let texts = vec!["kind=person".to_string()];
        assert!(Selection::from_parts(Some(keys.clone()), Some(texts.clone())).is_err());
        assert_eq!(Selection::from_parts(None, None), Ok(None));
        assert_eq!(
            Selection::from_lists(keys.clone(), Vec::new()),
            Ok(Selection::Static(keys))
        );
        assert!(matches!(
            Selection::from_lists(Vec::new(), texts),
            Ok(Selection::Conditions(c)) if c.len() == 1
        ));
        assert_eq!(
            Selection::from_lists(Vec::new(), Vec::new()),
            Ok(Selection::Static(Vec::new()))
        );
        assert!(Selection::from_parts(None, Some(vec!["colour=red".into()])).is_err());
    }

    #[test]
    fn condition_sql_numbers_its_binds() {
        let cs = vec![
            Condition::parse("member_type=Regular|Student").unwrap(),
            Condition::parse("field.chapter!=North").unwrap(),
        ];
        let (sql, binds) = conditions_sql(&cs, 2);
        assert!(sql.contains("m.member_type IN ($2, $3)"), "{sql}");
        assert!(
            sql.contains("f.field_key = $4 AND v.value IN ($5)"),
            "{sql}"
        );
        assert_eq!(binds, vec!["Regular", "Student", "chapter", "North"]);
    }
}
