//! Ticket texts from minijinja templates, with links to the vendor consoles.

use crate::config::Templates;
use secure_endpoint::Event;
use serde::Serialize;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;

/// Everything a template can use.
#[derive(Clone, Debug, Serialize)]
pub struct TemplateContext {
    pub tenant: String,
    pub hostname: String,
    pub connector_guid: String,
    pub event_type: String,
    pub event_type_id: u64,
    pub severity: String,
    pub detection: String,
    pub sha256: String,
    pub file_name: String,
    pub file_path: String,
    pub date: String,
    pub user: String,
    pub ips: String,
    /// The process behind the event: the file's parent, else the network flow's.
    pub process: String,
    /// `command_line.arguments`.
    pub command_line: String,
    /// The network connection: `network_info.remote_ip`, `remote_port` (as text),
    /// `nfm.protocol`, `dirty_url`.
    pub remote_ip: String,
    pub remote_port: String,
    pub protocol: String,
    pub url: String,
    /// The Cloud IOC's short description (e.g. `W32.PsexecAsAdmin.ioc`).
    pub ioc: String,
    /// `vulnerabilities[].cve`, comma-separated.
    pub cves: String,
    pub computer_url: String,
    pub file_url: String,
    pub investigate_url: String,
    pub rule: String,
    pub correlation_id: String,
}

/// Links stored with an incident (for XDR references and the CLI).
#[derive(Clone, Debug, Serialize, serde::Deserialize, Default)]
pub struct Links {
    pub computer_url: String,
    pub file_url: String,
    pub investigate_url: String,
}

fn s(v: &Value, path: &[&str]) -> String {
    let mut cur = v;
    for p in path {
        match cur.get(p) {
            Some(next) => cur = next,
            None => return String::new(),
        }
    }
    scalar(cur)
}

/// A string as itself, a number as its digits, anything else as nothing.
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

/// Percent-encodes a query value (the investigate link).
fn enc(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

impl TemplateContext {
    pub fn new(
        tenant: &str,
        e: &Event,
        console: &str,
        visibility: &str,
        rule: &str,
        correlation_id: &str,
    ) -> TemplateContext {
        let raw: Value = serde_json::from_str(e.raw()).unwrap_or(Value::Null);
        let guid = e.connector_guid.clone().unwrap_or_default();
        let sha = e.sha256.clone().unwrap_or_default();
        let ips: Vec<String> = raw
            .get("computer")
            .and_then(|c| c.get("network_addresses"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|n| n.get("ip").and_then(Value::as_str))
                    .filter(|ip| !ip.trim().is_empty())
                    .map(|ip| ip.trim().to_string())
                    .collect()
            })
            .unwrap_or_default();
        let cves: Vec<String> = raw
            .get("vulnerabilities")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|v| scalar(v.get("cve").unwrap_or(&Value::Null)))
                    .filter(|c| !c.trim().is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let console = console.trim_end_matches('/');
        let computer_url = if guid.is_empty() {
            format!("{console}/computers")
        } else {
            format!("{console}/computers/{guid}/trajectory2")
        };
        let file_url = if sha.is_empty() {
            String::new()
        } else {
            format!("{console}/file/trajectory/{sha}")
        };
        let mut q = Vec::new();
        if !guid.is_empty() {
            q.push(format!("amp_computer_guid:{guid}"));
        }
        if !sha.is_empty() {
            q.push(format!("sha256:{sha}"));
        }
        let investigate_url = format!(
            "{}/investigate?q={}",
            visibility.trim_end_matches('/'),
            enc(&q.join(" "))
        );
        TemplateContext {
            tenant: tenant.to_string(),
            hostname: e
                .hostname
                .clone()
                .or_else(|| e.connector_guid.clone())
                .unwrap_or_else(|| "unknown host".into()),
            connector_guid: guid,
            event_type: e
                .event_type
                .clone()
                .unwrap_or_else(|| format!("event type {}", e.event_type_id)),
            event_type_id: e.event_type_id,
            severity: e
                .severity
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|| "Unknown".into()),
            detection: e.detection.clone().unwrap_or_default(),
            sha256: sha,
            file_name: s(&raw, &["file", "file_name"]),
            file_path: s(&raw, &["file", "file_path"]),
            date: e.time().format(&Rfc3339).unwrap_or_default(),
            user: s(&raw, &["computer", "user"]),
            ips: ips.join(", "),
            process: Some(s(&raw, &["file", "parent", "file_name"]))
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| s(&raw, &["network_info", "parent", "file_name"])),
            command_line: s(&raw, &["command_line", "arguments"]),
            remote_ip: s(&raw, &["network_info", "remote_ip"]),
            remote_port: s(&raw, &["network_info", "remote_port"]),
            protocol: s(&raw, &["network_info", "nfm", "protocol"]),
            url: s(&raw, &["network_info", "dirty_url"]),
            ioc: s(&raw, &["cloud_ioc", "short_description"]),
            cves: cves.join(", "),
            computer_url,
            file_url,
            investigate_url,
            rule: rule.to_string(),
            correlation_id: correlation_id.to_string(),
        }
    }

    pub fn links(&self) -> Links {
        Links {
            computer_url: self.computer_url.clone(),
            file_url: self.file_url.clone(),
            investigate_url: self.investigate_url.clone(),
        }
    }
}

/// The compiled templates.
pub struct Renderer {
    env: minijinja::Environment<'static>,
}

/// Rendered texts of a new incident.
pub struct Texts {
    pub short_description: String,
    pub description: String,
    pub xdr_title: String,
    pub xdr_description: String,
    pub note_line: String,
}

impl Renderer {
    /// Compiles the templates (validated when the config was loaded).
    pub fn new(t: &Templates) -> Result<Renderer, minijinja::Error> {
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Lenient);
        for (name, text) in [
            ("short_description", &t.short_description),
            ("description", &t.description),
            ("xdr_title", &t.xdr_title),
            ("xdr_description", &t.xdr_description),
            ("note_line", &t.note_line),
        ] {
            env.add_template_owned(name.to_string(), text.clone())?;
        }
        Ok(Renderer { env })
    }

    fn one(&self, name: &str, ctx: &TemplateContext) -> String {
        match self.env.get_template(name).and_then(|t| t.render(ctx)) {
            Ok(s) => s,
            // A template that fails at render time must not stop incidents: say so in the text.
            Err(e) => format!("(template {name} failed: {e})"),
        }
    }

    pub fn note_line(&self, ctx: &TemplateContext) -> String {
        self.one("note_line", ctx)
    }

    pub fn all(&self, ctx: &TemplateContext) -> Texts {
        Texts {
            short_description: one_line(&self.one("short_description", ctx), 160),
            description: self.one("description", ctx),
            xdr_title: one_line(&self.one("xdr_title", ctx), 1024),
            xdr_description: self.one("xdr_description", ctx),
            note_line: self.note_line(ctx),
        }
    }
}

/// One line, at most `max` characters (ServiceNow's short_description is 160 by default).
fn one_line(s: &str, max: usize) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    let flat = flat.trim();
    if flat.chars().count() <= max {
        flat.to_string()
    } else {
        let mut t: String = flat.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_templates_render_links_and_fields() {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
                "../../fixtures/secure-endpoint/elastic_integrations__cisco_secure_endpoint__test-cisco-amp1_log__line03_threat_detected_1090519054_with_parent.json",
            ),
        )
        .unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        let e = Event::from_json(&v["data"].to_string()).unwrap();
        let ctx = TemplateContext::new(
            "acme",
            &e,
            "https://console.eu.amp.cisco.com",
            "https://visibility.eu.amp.cisco.com",
            "high-priority",
            "sebridge:acme:amp-event:1",
        );
        let r = Renderer::new(&Templates::default()).unwrap();
        let t = r.all(&ctx);
        assert!(
            t.short_description
                .starts_with("[acme] Threat Detected on "),
            "{}",
            t.short_description
        );
        assert!(!t.short_description.contains('\n'));
        assert!(t
            .description
            .contains("https://console.eu.amp.cisco.com/computers/"));
        assert!(t.description.contains("/trajectory2"));
        assert!(t
            .description
            .contains("https://console.eu.amp.cisco.com/file/trajectory/"));
        assert!(t.description.contains("investigate?q=amp_computer_guid%3A"));
        assert!(t.xdr_description.contains("**Device trajectory:**"));
        assert!(!t.note_line.is_empty());
        assert!(!t.description.contains("template"), "{}", t.description);
    }
}
