//! Any string as a named call-group or pickup-group list: parsing never
//! panics, and an accepted list prints back to a string that parses to the
//! same list.
#![no_main]

use callgrid_model::NameList;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &str| {
    if let Ok(list) = NameList::parse("names", raw) {
        let again = NameList::parse("names", &list.to_string()).expect("a printed list parses");
        assert_eq!(list, again);
    }
});
