//! Whether a host is this machine: the one check behind every "only to
//! loopback" rule (plain-text Postgres passwords, `http://` Supabase URLs).

use std::net::IpAddr;

/// `localhost`, or an IP address in 127.0.0.0/8 or `::1` (brackets around
/// an IPv6 address allowed). Names that merely start with `localhost` are
/// not.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_machine_is_loopback() {
        for yes in ["localhost", "LOCALHOST", "127.0.0.1", "127.8.9.1", "::1", "[::1]"] {
            assert!(is_loopback_host(yes), "{yes}");
        }
        for no in [
            "localhost.example.com",
            "10.0.0.1",
            "example.com",
            "",
            "::2",
            "128.0.0.1",
        ] {
            assert!(!is_loopback_host(no), "{no}");
        }
    }
}
