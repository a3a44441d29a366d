//! The doors of the HTTP service: Rocket's handlers, each a thin door onto
//! the code below (read the request, call, answer), with what they share
//! in reading requests.

pub mod signup;
