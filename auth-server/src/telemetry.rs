//! Logging for the auth-server: `platform::observe`'s setup with our default
//! filter (Rocket's own records kept to warnings).

pub fn init() {
    platform::observe::init_logging("info,rocket=warn,_=warn,sqlx=warn");
}
