//! Syslog sink: RFC 5424 (or RFC 3164) messages over UDP (RFC 5426), TCP (RFC 6587,
//! octet-counting or newline framing) or TLS (RFC 5425, octet-counted, rustls with the
//! server certificate verified against the system roots plus an optional CA file).
//!
//! The message body is the raw event as JSON, CEF or LEEF 2.0. PRI = facility × 8 + a
//! severity mapped from the event's: Critical → 2 (crit), High → 3 (err), Medium → 4
//! (warning), Low → 5 (notice), none → 6 (info). The RFC 5424 header carries the event time
//! (microseconds, UTC), APP-NAME, and the event type id as MSGID; no structured data; MSG
//! without a BOM (MSG-ANY, which the RFC allows and every receiver handles).
//!
//! Delivery is at least once *to the receiver's socket*: syslog has no application-level
//! acknowledgement, so a batch is done once written and flushed. Before each batch an idle
//! connection is checked for a close by the peer (a write into a half-closed socket would
//! otherwise "succeed"), and any error reconnects and resends the whole batch, so a retry
//! may duplicate the events of a batch that was partly received.

use super::message::Formatter;
use crate::config::{SyslogFraming, SyslogSinkConfig, SyslogTransport};
use crate::sinks::util::{Sink, SinkCtx, SinkError};
use crate::store::JournalEntry;
use futures::FutureExt as _;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::net::{TcpStream, UdpSocket};
use tracing::{debug, info};

/// Largest UDP payload over IPv4.
const MAX_DATAGRAM: usize = 65_507;

trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Stream for T {}

enum Conn {
    Udp(UdpSocket),
    Stream(BufWriter<Box<dyn Stream>>),
}

pub struct SyslogSink {
    config: SyslogSinkConfig,
    fmt: Formatter,
    ctx: SinkCtx,
    conn: Option<Conn>,
    tls: Option<tokio_rustls::TlsConnector>,
    msg: String,
}

impl SyslogSink {
    pub fn new(config: SyslogSinkConfig, ctx: SinkCtx) -> Result<SyslogSink, SinkError> {
        let tls = match config.transport {
            SyslogTransport::Tls => Some(tls_connector(config.ca_file.as_deref())?),
            _ => None,
        };
        Ok(SyslogSink {
            fmt: Formatter::from_config(&config),
            config,
            ctx,
            conn: None,
            tls,
            msg: String::with_capacity(4096),
        })
    }

    fn err(&self, what: &str, e: std::io::Error) -> SinkError {
        SinkError::Io {
            context: format!("syslog {what} {}", self.config.address),
            source: e,
        }
    }

    async fn connect(&self) -> Result<Conn, SinkError> {
        let addr = self.config.address.as_str();
        let timeout = self.config.connect_timeout;
        let timed_out = || std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out");
        match self.config.transport {
            SyslogTransport::Udp => {
                let target = tokio::net::lookup_host(addr)
                    .await
                    .map_err(|e| self.err("cannot resolve", e))?
                    .next()
                    .ok_or_else(|| {
                        self.err(
                            "cannot resolve",
                            std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
                        )
                    })?;
                let bind: std::net::SocketAddr = if target.is_ipv4() {
                    ([0, 0, 0, 0], 0).into()
                } else {
                    (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                };
                let sock = UdpSocket::bind(bind)
                    .await
                    .map_err(|e| self.err("cannot bind a UDP socket for", e))?;
                sock.connect(target)
                    .await
                    .map_err(|e| self.err("cannot connect to", e))?;
                Ok(Conn::Udp(sock))
            }
            SyslogTransport::Tcp | SyslogTransport::Tls => {
                let tcp = tokio::time::timeout(timeout, TcpStream::connect(addr))
                    .await
                    .map_err(|_| self.err("cannot connect to", timed_out()))?
                    .map_err(|e| self.err("cannot connect to", e))?;
                let _ = tcp.set_nodelay(true);
                let stream: Box<dyn Stream> = match &self.tls {
                    None => Box::new(tcp),
                    Some(connector) => {
                        let name = self
                            .config
                            .tls_server_name
                            .clone()
                            .unwrap_or_else(|| host_of(addr).to_string());
                        let server_name = rustls_pki_types::ServerName::try_from(name.clone())
                            .map_err(|e| {
                                SinkError::Other(format!(
                                    "syslog {addr}: `{name}` is not a valid TLS server name: {e}"
                                ))
                            })?;
                        let tls =
                            tokio::time::timeout(timeout, connector.connect(server_name, tcp))
                                .await
                                .map_err(|_| self.err("TLS handshake with", timed_out()))?
                                .map_err(|e| self.err("TLS handshake with", e))?;
                        Box::new(tls)
                    }
                };
                info!(sink = %self.ctx.name, address = addr, "syslog connected");
                Ok(Conn::Stream(BufWriter::with_capacity(256 * 1024, stream)))
            }
        }
    }

    async fn send(&mut self, batch: &[JournalEntry]) -> Result<(), SinkError> {
        // A receiver that closed an idle connection shows as readable (EOF); writing into it
        // would succeed locally and lose the batch.
        if let Some(Conn::Stream(w)) = &mut self.conn {
            let mut probe = [0u8; 64];
            match w.get_mut().read(&mut probe).now_or_never() {
                None => {}
                Some(Ok(n)) if n > 0 => {} // receivers do not talk; ignore stray bytes
                Some(_) => {
                    debug!(sink = %self.ctx.name, "syslog connection closed by the peer; reconnecting");
                    self.conn = None;
                }
            }
        }
        if self.conn.is_none() {
            self.conn = Some(self.connect().await?);
        }
        let octet = self.config.transport == SyslogTransport::Tls
            || self.config.framing == SyslogFraming::OctetCounting;
        let mut oversized = Vec::new();
        for (i, entry) in batch.iter().enumerate() {
            self.msg.clear();
            self.fmt.message(entry, &mut self.msg);
            let addr = &self.config.address;
            match self.conn.as_mut() {
                Some(Conn::Udp(sock)) => {
                    if self.msg.len() > MAX_DATAGRAM {
                        oversized.push(i);
                        continue;
                    }
                    sock.send(self.msg.as_bytes())
                        .await
                        .map_err(|e| SinkError::Io {
                            context: format!("syslog cannot send to {addr}"),
                            source: e,
                        })?;
                }
                Some(Conn::Stream(w)) => {
                    let r = async {
                        if octet {
                            w.write_all(self.msg.len().to_string().as_bytes()).await?;
                            w.write_all(b" ").await?;
                            w.write_all(self.msg.as_bytes()).await
                        } else {
                            // Newline framing: the formats never emit a raw line break (JSON
                            // strings escape them, CEF/LEEF encode them), so one event stays one
                            // frame.
                            w.write_all(self.msg.as_bytes()).await?;
                            w.write_all(b"\n").await
                        }
                    }
                    .await;
                    r.map_err(|e| SinkError::Io {
                        context: format!("syslog cannot write to {addr}"),
                        source: e,
                    })?;
                }
                None => {}
            }
        }
        if let Some(Conn::Stream(w)) = self.conn.as_mut() {
            w.flush().await.map_err(|e| SinkError::Io {
                context: format!("syslog cannot write to {}", self.config.address),
                source: e,
            })?;
        }
        for i in oversized {
            self.ctx
                .dead_letter(
                    &batch[i],
                    &format!("syslog message larger than a UDP datagram ({MAX_DATAGRAM} bytes); use TCP or TLS"),
                )
                .await?;
        }
        Ok(())
    }
}

fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// A rustls connector trusting the system roots plus `ca_file` (PEM).
pub fn tls_connector(
    ca_file: Option<&std::path::Path>,
) -> Result<tokio_rustls::TlsConnector, SinkError> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
        let certs = rustls_pki_types::CertificateDer::pem_file_iter(path).map_err(|e| {
            SinkError::Other(format!("cannot read CA file {}: {e}", path.display()))
        })?;
        let mut n = 0;
        for cert in certs {
            let cert = cert.map_err(|e| {
                SinkError::Other(format!("bad certificate in {}: {e}", path.display()))
            })?;
            roots.add(cert).map_err(|e| {
                SinkError::Other(format!(
                    "unusable CA certificate in {}: {e}",
                    path.display()
                ))
            })?;
            n += 1;
        }
        if n == 0 {
            return Err(SinkError::Other(format!(
                "no certificate in CA file {}",
                path.display()
            )));
        }
    }
    if roots.is_empty() {
        return Err(SinkError::Other(
            "no trusted CA certificates (none in the system store and no ca_file)".into(),
        ));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SinkError::Other(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

impl Sink for SyslogSink {
    fn kind(&self) -> &'static str {
        "syslog"
    }

    async fn write(&mut self, batch: &[JournalEntry]) -> Result<Option<String>, SinkError> {
        match self.send(batch).await {
            Ok(()) => Ok(None),
            Err(e) => {
                // Start the retry on a fresh connection.
                self.conn = None;
                Err(e)
            }
        }
    }

    async fn close(&mut self) {
        if let Some(Conn::Stream(mut w)) = self.conn.take() {
            // Flush and, on TLS, send close_notify so the receiver sees a clean end.
            let _ = w.flush().await;
            let _ = w.shutdown().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_of_strips_port_and_brackets() {
        assert_eq!(host_of("siem.example.com:6514"), "siem.example.com");
        assert_eq!(host_of("[::1]:514"), "::1");
    }
}
