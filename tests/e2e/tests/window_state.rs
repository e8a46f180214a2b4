//! The window's size and position are remembered across a relaunch: the
//! window is moved and resized through WebDriver, its window closed (the
//! page closes it, down the same path as its close button; `App::close`
//! checks the app exited cleanly), then launched again on the same config dir, where it meets no old
//! instance and opens where it was left. Three relaunches in a row, as
//! the relaunch once hung here.

use archive_desk_e2e::{App, Home};

/// `(x, y, width, height)`, as WebDriver reads the window.
type Rect = (u64, u64, u64, u64);

async fn window_rect(app: &App) -> Rect {
    app.client.get_window_rect().await.expect("read the window rect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_size_and_position_are_remembered_across_relaunches() {
    let home = Home::new();
    let state_file = home.config_dir().join("window-state.json");

    let mut app = App::launch(&home).await;
    let first = window_rect(&app).await;
    assert!(!state_file.exists(), "a window state before the first close");
    // Within the 1280x800 screen and above the window's minimum (900x560).
    let rects: [Rect; 3] = [(40, 30, 1000, 640), (120, 90, 1100, 600), (0, 0, 960, 700)];
    for wanted in rects {
        assert_ne!(window_rect(&app).await, wanted, "the window is already at {wanted:?}");
        let (x, y, width, height) = wanted;
        app.client
            .set_window_rect(x as u32, y as u32, width as u32, height as u32)
            .await
            .expect("move and resize the window");
        assert_eq!(window_rect(&app).await, wanted, "the window did not move");
        app.close().await;

        let state: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&state_file).expect("the window state was saved on exit"))
                .expect("the window state is JSON");
        assert_eq!(
            (&state["main"]["width"], &state["main"]["height"]),
            (&width.into(), &height.into()),
            "{state}"
        );

        app = App::launch(&home).await;
        assert_eq!(
            window_rect(&app).await,
            wanted,
            "the relaunched window (first: {first:?})"
        );
    }
    app.close().await;
}
