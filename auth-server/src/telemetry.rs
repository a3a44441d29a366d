//! Logging for the auth-server: `shared::observe`'s setup with our default
//! filter (Rocket's own records kept to warnings).

pub fn init() {
    shared::observe::init_logging("info,rocket=warn,_=warn,sqlx=warn");
}
