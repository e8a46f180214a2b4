//! Names that become key parts, and keys found when listing. The input is
//! lines: a prefix, a name (an email, a folder or a conversation id, as a
//! person types it or a listing gives it), a key. Checks: what the layout
//! accepts is a safe key part by an independent rule; a folder made from an
//! email is a folder the listing accepts back, and its guessed email maps to
//! it again; keys built from valid names classify back to those names, and
//! a key classified as a conversation or index is the key the layout builds.
#![no_main]

use archive_desk_core::{ConversationId, Layout, ObjectKind, UserFolder};
use libfuzzer_sys::fuzz_target;

/// The rule, restated: what may be one part of a key.
fn safe_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && !s.contains(['/', '\\'])
        && !s.contains("..")
        && !s.chars().any(char::is_control)
        && s.trim() == s
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let (prefix, name, key) = (
        lines.next().unwrap_or(""),
        lines.next().unwrap_or(""),
        lines.next().unwrap_or(""),
    );

    let layout = match Layout::new(prefix) {
        Ok(l) => {
            assert!(l.prefix().is_empty() || l.prefix().ends_with('/'));
            assert_eq!(Layout::new(l.prefix()).unwrap(), l, "a prefix is stable");
            l
        }
        Err(e) => {
            assert_eq!(e.code(), "invalid_name");
            Layout::default()
        }
    };

    // Emails and folders.
    let from_arg = UserFolder::from_user_arg(name);
    if name.contains('@') {
        assert_eq!(from_arg.ok(), UserFolder::from_email(name).ok());
    } else {
        assert_eq!(from_arg.ok(), UserFolder::parse(name).ok());
    }
    if let Ok(folder) = UserFolder::from_email(name) {
        assert!(safe_part(name), "unsafe email accepted: {name:?}");
        assert_eq!(folder.as_str(), name.replace('@', "_at_").replace('.', "_"));
        assert_eq!(
            UserFolder::parse(folder.as_str()).ok().as_ref(),
            Some(&folder),
            "the folder made from {name:?} is not a folder the listing accepts"
        );
        if let Some(guess) = folder.guessed_email() {
            if let Ok(again) = UserFolder::from_email(&guess) {
                assert_eq!(again, folder, "guessed email {guess:?} maps elsewhere");
            }
        }
    }
    match UserFolder::parse(name) {
        Ok(folder) => {
            assert!(safe_part(name), "unsafe folder accepted: {name:?}");
            assert_eq!(folder.as_str(), name);
            let user_prefix = layout.user_prefix(&folder);
            assert_eq!(
                layout.folder_of_common_prefix(&user_prefix).ok().as_ref(),
                Some(&folder)
            );
            assert_eq!(layout.classify(&folder, &layout.index_key(&folder)), ObjectKind::Index);

            // The key line, as listed inside this folder and as given.
            for k in [format!("{user_prefix}{key}"), key.to_owned()] {
                match layout.classify(&folder, &k) {
                    ObjectKind::Index => assert_eq!(k, layout.index_key(&folder)),
                    ObjectKind::Conversation { id, gz_suffix } => {
                        assert!(safe_part(id.as_str()));
                        assert_eq!(k, layout.conversation_key(&folder, &id, gz_suffix));
                    }
                    ObjectKind::Other => {}
                }
            }
        }
        Err(e) => {
            assert!(!safe_part(name), "safe folder refused: {name:?}");
            assert_eq!(e.code(), "invalid_name");
        }
    }

    // Conversation ids: a key built from one classifies back to it.
    match ConversationId::parse(name) {
        Ok(id) => {
            assert!(safe_part(name), "unsafe id accepted: {name:?}");
            let folder = UserFolder::parse("u_at_x_io").unwrap();
            for gz in [false, true] {
                let k = layout.conversation_key(&folder, &id, gz);
                assert_eq!(
                    layout.classify(&folder, &k),
                    ObjectKind::Conversation {
                        id: id.clone(),
                        gz_suffix: gz
                    },
                    "{k:?}"
                );
            }
        }
        Err(e) => assert_eq!(e.code(), "invalid_name"),
    }
});
