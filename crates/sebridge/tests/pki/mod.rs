//! Throwaway certificates for the TLS tests, made with the openssl CLI: a CA no system
//! trusts, and a server certificate it signed. Shared by the test binaries that need one.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is needed to make the test certificates");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The key type: EC P-256 is fast to make; RSA for servers whose TLS libraries are
/// configured for it in the tests (rsyslog's gtls, the RabbitMQ node).
#[derive(Clone, Copy)]
pub enum Key {
    Ec,
    Rsa,
}

fn new_key(key: Key) -> &'static [&'static str] {
    match key {
        Key::Ec => &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
        Key::Rsa => &["-newkey", "rsa:2048"],
    }
}

/// A self-signed CA: `<stem>.pem` and `<stem>.key` in `dir`.
pub fn ca(dir: &Path, stem: &str, cn: &str, key: Key) {
    let (pem, keyfile, subj) = (
        format!("{stem}.pem"),
        format!("{stem}.key"),
        format!("/CN={cn}"),
    );
    let mut args = vec!["req", "-x509"];
    args.extend(new_key(key));
    args.extend([
        "-nodes",
        "-keyout",
        &keyfile,
        "-out",
        &pem,
        "-days",
        "2",
        "-subj",
        &subj,
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(dir, &args);
}

/// `ca.pem`/`ca.key` (CN `ca_cn`) and `server.pem`/`server.key` it signed for `san` (e.g.
/// `DNS:localhost,IP:127.0.0.1`), in `dir`.
pub fn ca_and_server(dir: &Path, ca_cn: &str, san: &str, key: Key) {
    ca(dir, "ca", ca_cn, key);
    let mut csr = vec!["req"];
    csr.extend(new_key(key));
    csr.extend([
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    openssl(dir, &csr);
    // Key encipherment is an RSA key's use only.
    let usage = match key {
        Key::Ec => "digitalSignature",
        Key::Rsa => "digitalSignature,keyEncipherment",
    };
    std::fs::write(
        dir.join("ext.cnf"),
        format!(
            "subjectAltName={san}\nbasicConstraints=CA:FALSE\n\
             keyUsage={usage}\nextendedKeyUsage=serverAuth\n"
        ),
    )
    .expect("ext file");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
}
