//! The encoded-query subset the Table API list serves (`f=v`, `fIN a,b`, `^OR`, `ORDERBY`,
//! ...) and how a condition matches a record.

use super::{SnowRecord, INCIDENT_FIELDS};

#[derive(Debug, Clone)]
enum Op {
    Eq(String),
    Ne(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    StartsWith(String),
    EndsWith(String),
    Like(String),
    Gt(String),
    Ge(String),
    Lt(String),
    Le(String),
    Empty,
    NotEmpty,
}

#[derive(Debug, Clone)]
pub(crate) struct Cond {
    field: String,
    op: Op,
}

/// Conditions (each an OR group) and ordering.
type Parsed = (Vec<Vec<Cond>>, Vec<(String, bool)>);

/// Splits on `^` but not `^^` (an escaped caret).
pub(super) fn split_terms(q: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = q.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '^' {
            if chars.peek() == Some(&'^') {
                chars.next();
                cur.push('^');
            } else {
                out.push(std::mem::take(&mut cur));
            }
        } else {
            cur.push(c);
        }
    }
    out.push(cur);
    out.into_iter().filter(|t| !t.is_empty()).collect()
}

fn parse_cond(term: &str) -> Option<Cond> {
    let end = term
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(term.len());
    // Operators are upper-case words after the field name (`stateIN6,7`): find where one starts.
    let (field, rest) = {
        let mut split = end;
        for (i, _) in term.char_indices().take(end) {
            let tail = &term[i..];
            if [
                "STARTSWITH",
                "ENDSWITH",
                "NOT IN",
                "NOT LIKE",
                "IN",
                "LIKE",
                "ISEMPTY",
                "ISNOTEMPTY",
            ]
            .iter()
            .any(|op| tail.starts_with(op))
                && i > 0
            {
                split = i;
                break;
            }
        }
        (&term[..split], &term[split..])
    };
    let list = |s: &str| s.split(',').map(|v| v.trim().to_string()).collect();
    let op = if let Some(v) = rest.strip_prefix("!=") {
        Op::Ne(v.into())
    } else if let Some(v) = rest.strip_prefix(">=") {
        Op::Ge(v.into())
    } else if let Some(v) = rest.strip_prefix("<=") {
        Op::Le(v.into())
    } else if let Some(v) = rest.strip_prefix('=') {
        Op::Eq(v.into())
    } else if let Some(v) = rest.strip_prefix('>') {
        Op::Gt(v.into())
    } else if let Some(v) = rest.strip_prefix('<') {
        Op::Lt(v.into())
    } else if let Some(v) = rest.strip_prefix("STARTSWITH") {
        Op::StartsWith(v.into())
    } else if let Some(v) = rest.strip_prefix("ENDSWITH") {
        Op::EndsWith(v.into())
    } else if let Some(v) = rest.strip_prefix("NOT IN") {
        Op::NotIn(list(v))
    } else if let Some(v) = rest.strip_prefix("IN") {
        Op::In(list(v))
    } else if let Some(v) = rest.strip_prefix("LIKE") {
        Op::Like(v.into())
    } else if rest == "ISEMPTY" {
        Op::Empty
    } else if rest == "ISNOTEMPTY" {
        Op::NotEmpty
    } else {
        return None;
    };
    Some(Cond {
        field: field.to_string(),
        op,
    })
}

pub(super) fn parse_encoded(q: &str) -> Parsed {
    let mut groups: Vec<Vec<Cond>> = Vec::new();
    let mut order = Vec::new();
    for term in split_terms(q) {
        if let Some(f) = term.strip_prefix("ORDERBYDESC") {
            order.push((f.to_string(), true));
        } else if let Some(f) = term.strip_prefix("ORDERBY") {
            order.push((f.to_string(), false));
        } else if let Some(t) = term.strip_prefix("OR") {
            if let (Some(c), Some(g)) = (parse_cond(t), groups.last_mut()) {
                g.push(c);
            }
        } else if let Some(c) = parse_cond(&term) {
            groups.push(vec![c]);
        }
        // Anything else is ignored, as an instance ignores what it cannot parse.
    }
    (groups, order)
}

pub(super) fn cmp_values(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
        // Glide date-times compare correctly as text.
        _ => a.cmp(b),
    }
}

pub(super) fn cond_matches(r: &SnowRecord, c: &Cond) -> bool {
    if !INCIDENT_FIELDS.contains(&c.field.as_str()) {
        // Unknown field: the condition is dropped (returns every row), as on an instance.
        return true;
    }
    let v = r.get(&c.field);
    use std::cmp::Ordering::*;
    match &c.op {
        Op::Eq(x) => v == x,
        Op::Ne(x) => v != x,
        Op::In(xs) => xs.iter().any(|x| x == v),
        Op::NotIn(xs) => !xs.iter().any(|x| x == v),
        Op::StartsWith(x) => v.starts_with(x.as_str()),
        Op::EndsWith(x) => v.ends_with(x.as_str()),
        Op::Like(x) => v.to_lowercase().contains(&x.to_lowercase()),
        Op::Gt(x) => cmp_values(v, x) == Greater,
        Op::Ge(x) => cmp_values(v, x) != Less,
        Op::Lt(x) => cmp_values(v, x) == Less,
        Op::Le(x) => cmp_values(v, x) != Greater,
        Op::Empty => v.is_empty(),
        Op::NotEmpty => !v.is_empty(),
    }
}
