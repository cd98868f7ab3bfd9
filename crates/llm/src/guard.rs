//! A DNS resolver that drops the addresses a caller refuses, so a provider
//! whose host name resolves to a cloud metadata service (or any address the
//! caller rules out) is never connected to, whatever name it goes by.

use std::net::{IpAddr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Why an address is refused, or `None` to allow it.
pub type Refuse = fn(IpAddr) -> Option<&'static str>;

pub(crate) struct FilteringResolver {
    refuse: Refuse,
}

impl FilteringResolver {
    pub(crate) fn new(refuse: Refuse) -> FilteringResolver {
        FilteringResolver { refuse }
    }
}

impl Resolve for FilteringResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let refuse = self.refuse;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            // The system resolver, as reqwest's default uses (port 0: the
            // connector sets the real one).
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut why = None;
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| match refuse(a.ip()) {
                    Some(reason) => {
                        why = Some(reason);
                        false
                    }
                    None => true,
                })
                .collect();
            if allowed.is_empty() {
                let reason = why.unwrap_or("no address");
                return Err(format!("{host} resolves only to refused addresses ({reason})").into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refuse_loopback(ip: IpAddr) -> Option<&'static str> {
        ip.is_loopback().then_some("loopback")
    }

    #[tokio::test]
    async fn a_name_that_resolves_only_to_refused_addresses_fails() {
        let r = FilteringResolver::new(refuse_loopback);
        let name: Name = "localhost".parse().unwrap();
        let err = match r.resolve(name).await {
            Ok(_) => panic!("localhost must be refused"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("refused"), "{err}");
        let allow_all = FilteringResolver::new(|_| None);
        let name: Name = "localhost".parse().unwrap();
        assert!(allow_all.resolve(name).await.unwrap().next().is_some());
    }
}
