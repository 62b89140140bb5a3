// tandemctl: the Tandem admin CLI. Everything but the process boundary lives
// in cli_lib (see cli/app.h for the command line, environment and exit
// codes).
#include <unistd.h>

#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "cli/app.h"

extern char** environ;

int main(int argc, char** argv) {
  std::map<std::string, std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    std::string text(*entry);
    size_t equals = text.find('=');
    if (equals != std::string::npos && absl::StartsWith(text, "TANDEM_")) {
      env[text.substr(0, equals)] = text.substr(equals + 1);
    }
  }
  std::vector<std::string> args(argv + 1, argv + argc);
  tandem::cli::CommandSet commands = tandem::cli::AllCommands();
  return tandem::cli::RunTandemctl(commands, args, env, std::cout, std::cerr,
                                   isatty(STDERR_FILENO) == 1);
}
