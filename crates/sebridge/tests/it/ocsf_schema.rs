//! A validator of OCSF events against the schema files copied in `tests/ocsf-schema/`
//! (test-only). It compiles what it needs the way the OCSF schema compiler does: class
//! `extends` chains and profile `$include`s, objects with their `extends`, attribute types and
//! enums from the dictionary overridden by the class or object, and then checks an event:
//! class, category and type ids consistent; every required attribute present in the event and
//! in every nested object (profile attributes only when the profile is in `metadata.profiles`);
//! no attribute the class or object does not define (`unmapped` is where anything else goes);
//! values of the dictionary's types (integers 32-bit, longs 64-bit, `port_t` in range, arrays
//! where `is_array`); enum values valid; `at_least_one` / `just_one` constraints.
//!
//! The copy holds only what the validator needs: an `$include` of a profile that is not
//! copied leaves that profile's attributes out (an event using them is rejected), and an
//! attribute of a copied object that the dictionary lacks (newer than it) cannot be checked,
//! so it is rejected too. Both lists are pinned by a test so the copy cannot shrink silently.

use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
enum Req {
    Required,
    Recommended,
    Optional,
}

#[derive(Debug, Clone)]
struct Attr {
    type_name: String,
    is_array: bool,
    req: Req,
    enum_keys: Option<BTreeSet<String>>,
    /// The profile that brings this attribute (it then exists only with that profile).
    profile: Option<String>,
}

#[derive(Debug, Clone, Default)]
struct Shape {
    attrs: BTreeMap<String, Attr>,
    at_least_one: Vec<Vec<String>>,
    just_one: Vec<Vec<String>>,
}

#[derive(Debug)]
struct Class {
    name: String,
    category_uid: u64,
    shape: Shape,
}

pub struct Schema {
    dir: PathBuf,
    pub version: String,
    dict: Map<String, Value>,
    types: Map<String, Value>,
    categories: BTreeMap<String, u64>,
    classes: BTreeMap<u64, Class>,
    objects: BTreeMap<String, Shape>,
    /// Profiles `$include`d somewhere but not in the copy.
    pub missing_profiles: BTreeSet<String>,
    /// `object.attribute` names of copied files that the dictionary does not define.
    pub undefined: BTreeSet<String>,
}

fn read(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn obj<'a>(v: &'a Value, key: &str) -> Option<&'a Map<String, Value>> {
    v.get(key).and_then(Value::as_object)
}

impl Schema {
    pub fn load(dir: &Path) -> Result<Schema, String> {
        let dictionary = read(&dir.join("dictionary.json"))?;
        let categories = read(&dir.join("categories.json"))?;
        let version = read(&dir.join("version.json"))?;
        let mut s = Schema {
            dir: dir.to_path_buf(),
            version: version["version"].as_str().unwrap_or_default().to_string(),
            dict: obj(&dictionary, "attributes").cloned().unwrap_or_default(),
            types: dictionary["types"]["attributes"]
                .as_object()
                .cloned()
                .unwrap_or_default(),
            categories: obj(&categories, "attributes")
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| Some((k.clone(), v["uid"].as_u64()?)))
                .collect(),
            classes: BTreeMap::new(),
            objects: BTreeMap::new(),
            missing_profiles: BTreeSet::new(),
            undefined: BTreeSet::new(),
        };
        let mut files = Vec::new();
        collect(&dir.join("events"), &mut files);
        let mut by_name = BTreeMap::new();
        for f in files {
            let v = read(&f)?;
            let name = v["name"]
                .as_str()
                .ok_or(format!("{}: no name", f.display()))?;
            by_name.insert(name.to_string(), v);
        }
        for (name, v) in &by_name {
            // Concrete classes have a `uid` (within their category); `base_event` is class 0.
            let concrete = v.get("uid").is_some() || name == "base_event";
            if !concrete {
                continue;
            }
            let mut chain = vec![v];
            while let Some(parent) = chain.last().and_then(|c| c["extends"].as_str()) {
                let p = by_name
                    .get(parent)
                    .ok_or(format!("{name}: extends unknown {parent}"))?;
                chain.push(p);
            }
            let mut shape = Shape::default();
            let mut category = None;
            for c in chain.iter().rev() {
                s.merge(&mut shape, c, name)?;
                if let Some(cat) = c["category"].as_str() {
                    category = Some(cat.to_string());
                }
            }
            let category_uid = match category.as_deref().and_then(|c| s.categories.get(c)) {
                Some(u) => *u,
                None if name == "base_event" => 0,
                None => return Err(format!("{name}: unknown category {category:?}")),
            };
            let uid = category_uid * 1000 + v["uid"].as_u64().unwrap_or(0);
            s.classes.insert(
                uid,
                Class {
                    name: name.clone(),
                    category_uid,
                    shape,
                },
            );
        }
        Ok(s)
    }

    /// Adds the attributes of one class, object or profile definition `def` to `shape`.
    fn merge(&mut self, shape: &mut Shape, def: &Value, owner: &str) -> Result<(), String> {
        let Some(attrs) = obj(def, "attributes") else {
            return Ok(());
        };
        for inc in attrs
            .get("$include")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let path = inc.as_str().unwrap_or_default();
            let profile = read(&self.dir.join(path));
            let Ok(profile) = profile else {
                self.missing_profiles.insert(path.to_string());
                continue;
            };
            let pname = profile["name"].as_str().unwrap_or_default().to_string();
            let mut sub = Shape::default();
            self.merge(&mut sub, &profile, owner)?;
            for (k, mut a) in sub.attrs {
                shape.attrs.entry(k).or_insert_with(|| {
                    a.profile = Some(pname.clone());
                    a
                });
            }
        }
        for (k, spec) in attrs {
            if k == "$include" {
                continue;
            }
            let Some(d) = self.dict.get(k) else {
                self.undefined.insert(format!("{owner}.{k}"));
                shape.attrs.remove(k);
                continue;
            };
            let base = shape.attrs.get(k).cloned();
            let pick = |key: &str| spec.get(key).or_else(|| d.get(key));
            let type_name = match spec.get("type").and_then(Value::as_str) {
                Some(t) => t.to_string(),
                None => base.as_ref().map_or_else(
                    || {
                        pick("type")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string()
                    },
                    |b| b.type_name.clone(),
                ),
            };
            let req = match spec.get("requirement").and_then(Value::as_str) {
                Some("required") => Req::Required,
                Some("recommended") => Req::Recommended,
                Some(_) => Req::Optional,
                None => base.as_ref().map_or(Req::Optional, |b| b.req.clone()),
            };
            // Enum values add up along the chain, over the dictionary's (Unknown, Other...).
            let mut keys: Option<BTreeSet<String>> =
                base.as_ref().and_then(|b| b.enum_keys.clone());
            for e in [d.get("enum"), spec.get("enum")].into_iter().flatten() {
                if let Some(m) = e.as_object() {
                    keys.get_or_insert_with(BTreeSet::new)
                        .extend(m.keys().cloned());
                }
            }
            // `"profile": null` makes an attribute the class's own, whatever profile has it.
            let profile = match spec.get("profile") {
                Some(Value::Null) => None,
                Some(Value::String(p)) => Some(p.clone()),
                _ => base.as_ref().and_then(|b| b.profile.clone()),
            };
            let is_array = pick("is_array").and_then(Value::as_bool).unwrap_or(false);
            let attr = Attr {
                type_name,
                is_array,
                req,
                enum_keys: keys,
                profile,
            };
            shape.attrs.insert(k.clone(), attr);
        }
        if let Some(c) = obj(def, "constraints") {
            let list = |k: &str| -> Vec<Vec<String>> {
                c.get(k)
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(String::from))
                            .collect()
                    })
                    .into_iter()
                    .collect()
            };
            // A child's constraints replace its parent's (`{}` removes them).
            shape.at_least_one = list("at_least_one");
            shape.just_one = list("just_one");
        }
        Ok(())
    }

    fn object(&mut self, name: &str) -> Result<Shape, String> {
        if let Some(s) = self.objects.get(name) {
            return Ok(s.clone());
        }
        let mut chain = Vec::new();
        let mut next = Some(name.to_string());
        while let Some(n) = next.filter(|n| n != "object") {
            let v = read(&self.dir.join("objects").join(format!("{n}.json")))
                .map_err(|_| format!("object `{n}` is not in the copied schema"))?;
            next = v["extends"].as_str().map(String::from);
            chain.push(v);
        }
        let mut shape = Shape::default();
        for v in chain.iter().rev() {
            self.merge(&mut shape, v, name)?;
        }
        self.objects.insert(name.to_string(), shape.clone());
        Ok(shape)
    }

    /// Every problem of `event`, each with its path; empty when it is a valid event.
    pub fn validate(&mut self, event: &Value) -> Vec<String> {
        let mut errs = Vec::new();
        let Some(m) = event.as_object() else {
            return vec!["the event is not a JSON object".into()];
        };
        let int = |k: &str| m.get(k).and_then(Value::as_u64);
        let Some(class_uid) = int("class_uid") else {
            return vec!["class_uid: required attribute missing or not an integer".into()];
        };
        let Some(class) = self.classes.get(&class_uid) else {
            return vec![format!(
                "class_uid: {class_uid} is not a class of the copied schema"
            )];
        };
        let (name, category_uid) = (class.name.clone(), class.category_uid);
        let mut shape = class.shape.clone();
        // The base event's enums of these name only class 0; the ids of other classes are
        // checked against the class itself below.
        for k in ["class_uid", "category_uid"] {
            if let Some(a) = shape.attrs.get_mut(k) {
                a.enum_keys = None;
            }
        }
        if int("category_uid").is_some_and(|c| c != category_uid) {
            errs.push(format!(
                "category_uid: {name} is in category {category_uid}, found {}",
                m["category_uid"]
            ));
        }
        if let (Some(a), Some(t)) = (int("activity_id"), int("type_uid")) {
            if t != class_uid * 100 + a {
                errs.push(format!(
                    "type_uid: expected class_uid * 100 + activity_id = {}, found {t}",
                    class_uid * 100 + a
                ));
            }
        }
        let profiles: BTreeSet<String> = event["metadata"]["profiles"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p.as_str().map(String::from))
            .collect();
        self.check_object(&shape, m, "", &profiles, &mut errs);
        errs
    }

    fn check_object(
        &mut self,
        shape: &Shape,
        m: &Map<String, Value>,
        at: &str,
        profiles: &BTreeSet<String>,
        errs: &mut Vec<String>,
    ) {
        let path = |k: &str| {
            if at.is_empty() {
                k.to_string()
            } else {
                format!("{at}.{k}")
            }
        };
        let active = |a: &Attr| a.profile.as_ref().is_none_or(|p| profiles.contains(p));
        for (k, a) in &shape.attrs {
            if a.req == Req::Required && active(a) && !m.contains_key(k) {
                errs.push(format!("{}: required attribute missing", path(k)));
            }
        }
        for group in &shape.at_least_one {
            if !group.iter().any(|k| m.contains_key(k)) {
                errs.push(format!("{at}: needs at least one of {group:?}"));
            }
        }
        for group in &shape.just_one {
            if group.iter().filter(|k| m.contains_key(*k)).count() != 1 {
                errs.push(format!("{at}: needs exactly one of {group:?}"));
            }
        }
        for (k, v) in m {
            let p = path(k);
            match shape.attrs.get(k) {
                None => errs.push(format!(
                    "{p}: not an attribute of this class or object (use unmapped)"
                )),
                Some(a) if !active(a) => errs.push(format!(
                    "{p}: belongs to profile {} which metadata.profiles does not list",
                    a.profile.clone().unwrap_or_default()
                )),
                Some(a) => self.check_value(a, v, &p, profiles, errs),
            }
        }
    }

    fn check_value(
        &mut self,
        a: &Attr,
        v: &Value,
        p: &str,
        profiles: &BTreeSet<String>,
        errs: &mut Vec<String>,
    ) {
        match (a.is_array, v) {
            (true, Value::Array(items)) => {
                for (i, it) in items.iter().enumerate() {
                    self.check_one(a, it, &format!("{p}[{i}]"), profiles, errs);
                }
            }
            (true, _) => errs.push(format!("{p}: must be an array of {}", a.type_name)),
            (false, Value::Array(_)) => {
                errs.push(format!("{p}: must be one {}, not an array", a.type_name))
            }
            (false, _) => self.check_one(a, v, p, profiles, errs),
        }
    }

    fn check_one(
        &mut self,
        a: &Attr,
        v: &Value,
        p: &str,
        profiles: &BTreeSet<String>,
        errs: &mut Vec<String>,
    ) {
        if v.is_null() {
            errs.push(format!("{p}: null (leave the attribute out instead)"));
            return;
        }
        let (base, range) = self.base_type(&a.type_name);
        let ok = match base.as_str() {
            "string_t" => v.is_string(),
            "integer_t" => v.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
            "long_t" => v.as_i64().is_some(),
            "float_t" => v.is_number(),
            "boolean_t" => v.is_boolean(),
            "json_t" => true,
            "object" => v.is_object(),
            "" => false,
            object => {
                let Some(m) = v.as_object() else {
                    errs.push(format!("{p}: must be a {object} object"));
                    return;
                };
                match self.object(object) {
                    Ok(shape) => self.check_object(&shape, m, p, profiles, errs),
                    Err(e) => errs.push(format!("{p}: {e}")),
                }
                return;
            }
        };
        if !ok {
            errs.push(format!("{p}: must be {} ({base}), found {v}", a.type_name));
            return;
        }
        if let (Some((lo, hi)), Some(i)) = (range, v.as_i64()) {
            if i < lo || i > hi {
                errs.push(format!(
                    "{p}: {i} is outside {}'s range {lo}..={hi}",
                    a.type_name
                ));
            }
        }
        if let Some(keys) = &a.enum_keys {
            let key = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if !keys.contains(&key) {
                errs.push(format!("{p}: {key} is not one of its enum values {keys:?}"));
            }
        }
    }

    /// The primitive a type name ends in (`timestamp_t` → `long_t`), with any range; an object
    /// name is returned as it is.
    fn base_type(&self, t: &str) -> (String, Option<(i64, i64)>) {
        let mut t = t.to_string();
        let mut range = None;
        for _ in 0..4 {
            let Some(def) = self.types.get(&t) else { break };
            if let Some(r) = def["range"].as_array() {
                range = Some((
                    r[0].as_i64().unwrap_or(i64::MIN),
                    r[1].as_i64().unwrap_or(i64::MAX),
                ));
            }
            match def["type"].as_str() {
                Some(next) if next != t => t = next.to_string(),
                _ => break,
            }
        }
        (t, range)
    }

    /// The class names the copy defines, by class_uid.
    pub fn class_names(&self) -> BTreeMap<u64, String> {
        self.classes
            .iter()
            .map(|(k, c)| (*k, c.name.clone()))
            .collect()
    }
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
}

/// The copy in `tests/ocsf-schema/`.
pub fn copied() -> Schema {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ocsf-schema");
    Schema::load(&dir).unwrap_or_else(|e| panic!("the OCSF schema copy does not load: {e}"))
}
