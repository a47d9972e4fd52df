//! Where a URL the app answered with (a status URL, a report link) leads.
//!
//! - On one of the server's own addresses: re-based onto its current one,
//!   since the harness restarts the server on a new port and a URL answered
//!   before the restart names the old port.
//! - On another loopback address (the fake Cloudinary, a file server the
//!   app hands out links to): used as is.
//! - Anywhere else: refused. The load only talks to this machine, so a
//!   scenario can never make it fetch from the internet.

use url::{Host, Url};

/// A host and port, every loopback name counted as one host: the server
/// bound to `127.0.0.1:40111` is also `localhost:40111`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    host: String,
    port: u16,
}

impl Origin {
    /// The origin of `url`, if it has a host and a port.
    pub(crate) fn of(url: &Url) -> Option<Origin> {
        let port = url.port_or_known_default()?;
        let host = if is_loopback(url) {
            "loopback".to_string()
        } else {
            url.host_str()?.to_ascii_lowercase()
        };
        Some(Origin { host, port })
    }
}

/// Whether `url`'s host is this machine: `localhost` (and `*.localhost`),
/// `127.0.0.0/8`, `::1`, `0.0.0.0`, `::`. Names are not resolved: a name that resolves to a
/// loopback address today may not tomorrow.
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        // The unspecified address (`0.0.0.0`, an app's "listening on all
        // interfaces" URL) is this machine too when connected to.
        Some(Host::Ipv4(ip)) => ip.is_loopback() || ip.is_unspecified(),
        Some(Host::Ipv6(ip)) => ip.is_loopback() || ip.is_unspecified(),
        None => false,
    }
}

/// Where a link leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Destination {
    /// The app, at this URL on its current address: the user's headers and
    /// cookies go with the request.
    Server(String),
    /// Another process on this machine, as is: without the app's headers
    /// and cookies, as a browser would not send them there either.
    Elsewhere(Url),
}

/// Where `link` leads, with `base` the server's current base URL and
/// `server_origins` every address it has had. A path (`/api/jobs/1`, or
/// `api/jobs/1`) is the server's. Errors name the host, never the whole
/// URL, so that repeats collapse into one counted line.
pub(crate) fn destination(
    link: &str,
    base: &str,
    server_origins: &[Origin],
) -> Result<Destination, String> {
    let link = link.trim();
    let parsed = if let Some(rest) = link.strip_prefix("//") {
        // Scheme-relative: the server's scheme.
        let scheme = base.split_once("://").map_or("http", |(s, _)| s);
        Url::parse(&format!("{scheme}://{rest}"))
    } else {
        Url::parse(link)
    };
    let url = match parsed {
        Ok(u) => u,
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            let sep = if link.starts_with('/') { "" } else { "/" };
            return Ok(Destination::Server(format!("{base}{sep}{link}")));
        }
        Err(e) => return Err(format!("the link is not a URL ({e})")),
    };
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("`{}:` links are not fetched", url.scheme()));
    }
    match Origin::of(&url) {
        Some(origin) if server_origins.contains(&origin) => {
            let mut rebased = format!("{base}{}", url.path());
            if let Some(q) = url.query() {
                rebased.push('?');
                rebased.push_str(q);
            }
            Ok(Destination::Server(rebased))
        }
        _ if is_loopback(&url) => Ok(Destination::Elsewhere(url)),
        _ => Err(format!(
            "host `{}` is not this machine; the load only fetches from loopback hosts",
            url.host_str().unwrap_or_default()
        )),
    }
}

/// Follows up to 10 redirects, each only to a loopback host.
pub(crate) fn loopback_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() >= 10 {
            attempt.error("more than 10 redirects")
        } else if is_loopback(attempt.url()) {
            attempt.follow()
        } else {
            let host = attempt.url().host_str().unwrap_or_default().to_string();
            attempt.error(format!(
                "redirected to host `{host}`, which is not this machine; the load only fetches from loopback hosts"
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origins(urls: &[&str]) -> Vec<Origin> {
        urls.iter()
            .map(|u| Origin::of(&Url::parse(u).unwrap()).unwrap())
            .collect()
    }

    #[test]
    fn a_url_on_an_old_server_address_is_rebased_onto_the_current_one() {
        let known = origins(&["http://127.0.0.1:40001", "http://127.0.0.1:40002"]);
        let d = destination(
            "http://localhost:40001/api/jobs/3?x=1",
            "http://127.0.0.1:40002",
            &known,
        );
        assert_eq!(
            d,
            Ok(Destination::Server(
                "http://127.0.0.1:40002/api/jobs/3?x=1".into()
            ))
        );
    }

    #[test]
    fn paths_are_the_servers() {
        let base = "http://127.0.0.1:40002";
        for (link, url) in [
            ("/api/jobs/3", "http://127.0.0.1:40002/api/jobs/3"),
            ("api/jobs/3", "http://127.0.0.1:40002/api/jobs/3"),
        ] {
            assert_eq!(
                destination(link, base, &[]),
                Ok(Destination::Server(url.into()))
            );
        }
    }

    #[test]
    fn another_loopback_address_is_used_as_is() {
        let known = origins(&["http://127.0.0.1:40002"]);
        for link in [
            "http://127.0.0.1:5555/demo/raw/upload/r.pdf",
            "http://[::1]:5556/x",
            "http://localhost:5555/x",
            "//127.0.0.1:5555/x",
        ] {
            let d = destination(link, "http://127.0.0.1:40002", &known).unwrap();
            assert!(matches!(d, Destination::Elsewhere(_)), "{link}: {d:?}");
        }
    }

    #[test]
    fn hosts_off_this_machine_and_other_schemes_are_refused() {
        let known = origins(&["http://127.0.0.1:40002"]);
        let base = "http://127.0.0.1:40002";
        let e = destination("https://res.cloudinary.com/demo/r.pdf", base, &known).unwrap_err();
        assert!(
            e.contains("`res.cloudinary.com`") && e.contains("loopback"),
            "{e}"
        );
        assert!(destination("http://10.0.0.1:40002/x", base, &known).is_err());
        assert!(destination("http://localhost.example.com/x", base, &known).is_err());
        let e = destination("file:///etc/passwd", base, &known).unwrap_err();
        assert!(e.contains("`file:`"), "{e}");
    }
}
