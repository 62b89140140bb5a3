// Login names folded the way the billing systems' database compares them,
// so that every spelling MariaDB takes for a customer's login finds that
// customer's route.
//
// The billing systems keep logins in utf8mb4 columns with the server's
// default collation, utf8mb4_general_ci (MariaDB 10.11; the tests' servers
// and scripts/mariadb-throwaway set it explicitly). Under it two strings
// are equal when, character by character, their weights are equal after
// trailing spaces are removed (PAD SPACE): a character's weight is its
// upper-case base letter for letters with case or accents ("é", "É", "E" and
// "e" all weigh U+0045; "ß" weighs "S"), itself for most other characters of
// the Basic Multilingual Plane, and U+FFFD for every character beyond it.
// The table of weights (login_fold_table.inc) was read from MariaDB itself
// (scripts in login_fold_table.inc's header), and a test compares the fold
// with the server's own comparisons.
#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace tandem::router {

// Writes the fold of `login` to `out`: the UTF-8 of its characters'
// weights, trailing spaces removed. Two logins the collation takes as equal
// have the same fold, and two it takes as different have different folds.
// Folding a fold changes nothing. False (and `out` unspecified) when
// `login` is not valid UTF-8: such a login matches nobody.
bool FoldLogin(absl::string_view login, std::string* out);

// Like FoldLogin, but appends the fold to `out` (whose earlier content
// stays, and whose trailing spaces are left alone).
bool AppendFoldedLogin(absl::string_view login, std::string* out);

}  // namespace tandem::router
