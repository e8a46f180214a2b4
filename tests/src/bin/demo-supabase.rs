//! The demo's restore target: one Supabase stand-in project (PostgreSQL with
//! the chat app's schema and the restore RPC function, PostgREST, the
//! gateway) on loopback. Prints the project URL and its service-role key,
//! one per line, on stdout, then runs until its stdin closes; the servers
//! and their data go with it. `scripts/demo.sh` reads the two lines through
//! a pipe and hands the key straight to the keychain.

use std::io::{Read, Write};

use archive_desk_harness::supabase::{SupabaseStack, RESTORE_FUNCTION_SQL};

fn main() {
    let stack = SupabaseStack::start_with(RESTORE_FUNCTION_SQL);
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}\n{}", stack.url, stack.service_key).expect("stdout");
    out.flush().expect("stdout");
    drop(out);
    // Block until the demo ends (it closes our stdin).
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    drop(stack);
}
