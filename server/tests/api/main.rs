//! End-to-end tests of the report server against the fake Cloudinary, both
//! in this process, on ports from 127.0.0.1:0.

mod bad_input;
mod cdn_exif;
mod codes;
mod cpu;
mod decode_cost;
mod degraded;
mod errors;
mod faults;
mod full_disk;
mod helpers;
mod metrics;
mod origin;
mod pdf_output;
mod pdf_read;
mod pdf_unicode;
mod redis_down;
mod reduced;
mod reports;
mod restart;
mod retention;
mod retry_after;
mod slow_clients;
mod times;
