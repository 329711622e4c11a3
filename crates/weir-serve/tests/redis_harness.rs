//! The test Redis server: started on a free loopback port with its own directory, answering,
//! restartable with its data (AOF), and gone after the drop.

mod support;

use redis::AsyncCommands;
use support::redis::Redis;

#[tokio::test]
async fn starts_answers_restarts_with_aof_and_stops() {
    let mut server = Redis::start_with_aof();
    assert_ne!(server.port(), 6379);
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = conn.set("k", "v").await.unwrap();
    server.restart();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let value: String = conn.get("k").await.unwrap();
    assert_eq!(value, "v");
    let port = server.port();
    drop(server);
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}
