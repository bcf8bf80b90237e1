#[ringtide::main(worker_threads = "two")]
async fn main() {}

#[ringtide::test(worker_threads = 0)]
async fn zero_workers() {}

#[ringtide::test(pin = "yes")]
async fn pin_string() {}

#[ringtide::test(driver = "uring")]
async fn unknown_driver() {}

#[ringtide::test(driver = epoll)]
async fn driver_not_a_string() {}
