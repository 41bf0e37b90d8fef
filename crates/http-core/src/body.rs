//! Response bodies read into memory with a size bound.

use crate::errors::error_chain;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;

/// The largest body a client buffers; a larger one is refused, so a misbehaving server or
/// proxy cannot exhaust memory. The biggest legitimate answer is a Secure Endpoint page of
/// 500 events (a few MB); ServiceNow and XDR answers are far smaller. 64 MiB was the
/// Secure Endpoint client's bound, the largest of the three clients before they shared it.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// A request that did not produce a whole body.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Connect failure, timeout, connection dropped while reading the body.
    #[error("request to {url} failed: {message}")]
    Transport {
        url: String,
        /// The error and its causes ([`error_chain`]), without the URL.
        message: String,
        timeout: bool,
    },
    /// The body is larger than the limit; it was not read to the end.
    #[error("body larger than {limit} bytes")]
    TooLarge { url: String, limit: usize },
}

impl ReadError {
    /// A reqwest failure on `url`.
    pub fn transport(e: reqwest::Error, url: &str) -> ReadError {
        ReadError::Transport {
            url: url.to_string(),
            timeout: e.is_timeout(),
            message: error_chain(&e.without_url()),
        }
    }
}

/// A whole response: status, headers and body.
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// Sends a request and reads its body (at most `limit` bytes). `url` names the request in
/// errors (reqwest's own errors have it removed, so the text is the same for every client).
pub async fn send(
    req: reqwest::RequestBuilder,
    url: &str,
    limit: usize,
) -> Result<Response, ReadError> {
    let resp = req.send().await.map_err(|e| ReadError::transport(e, url))?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = read_body(resp, url, limit).await?;
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// Reads the body of a response already received (for a caller that looks at the headers
/// first), refusing it past `limit` bytes.
pub async fn read_body(
    mut resp: reqwest::Response,
    url: &str,
    limit: usize,
) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| ReadError::transport(e, url))?
    {
        if body.len() + chunk.len() > limit {
            return Err(ReadError::TooLarge {
                url: url.to_string(),
                limit,
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Serves one raw HTTP/1.1 answer with a body of `len` bytes; returns its URL.
    async fn serve(len: usize) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            if let Ok((mut sock, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {len}\r\nx-test: yes\r\nconnection: close\r\n\r\n"
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(&vec![b'a'; len]).await;
                let _ = sock.shutdown().await;
            }
        });
        format!("http://{addr}/x")
    }

    #[tokio::test]
    async fn reads_a_body_up_to_the_limit() {
        let url = serve(1000).await;
        let http = reqwest::Client::new();
        let r = send(http.get(&url), &url, 1000).await.unwrap();
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.headers.get("x-test").unwrap(), "yes");
        assert_eq!(r.body.len(), 1000);
    }

    #[tokio::test]
    async fn refuses_a_body_over_the_limit() {
        let url = serve(1001).await;
        let http = reqwest::Client::new();
        let e = send(http.get(&url), &url, 1000).await.unwrap_err();
        assert!(matches!(&e, ReadError::TooLarge { limit: 1000, url: u } if *u == url));
        assert_eq!(e.to_string(), "body larger than 1000 bytes");
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_transport_error() {
        // Bind then drop: the port is (almost certainly) closed.
        let addr = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let url = format!("http://{addr}/x");
        let e = send(reqwest::Client::new().get(&url), &url, 10)
            .await
            .unwrap_err();
        match &e {
            ReadError::Transport {
                url: u,
                message,
                timeout,
            } => {
                assert_eq!(u, &url);
                assert!(!timeout);
                // The causes are spelled out and the URL is not repeated in the message.
                assert!(message.starts_with("error sending request"), "{message}");
                assert!(!message.contains(&addr.to_string()), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert!(e
            .to_string()
            .starts_with(&format!("request to {url} failed: ")));
    }
}
