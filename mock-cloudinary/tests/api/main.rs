//! Integration tests of the fake through real HTTP on 127.0.0.1:0.

mod binary;
mod delivery;
mod faults;
mod helpers;
mod orientation;
mod sdk;
mod uploads;
