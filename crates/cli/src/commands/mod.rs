//! One module per concern, one function per command: each takes the
//! command's arguments, calls the core and returns a value that renders
//! itself (`render::Render`); `users` and `verify` print as they go.

pub mod audit;
pub mod browse;
pub mod catalog;
pub mod delete;
pub mod erase;
pub mod profile;
pub mod restore;
pub mod thaw;
pub mod users;
pub mod verify;
