// Runs the built `descent` command (its path comes from CMake as DESCENT_CLI) in a child
// process, capturing its exit status, stdout and stderr.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "descent/core/error.hpp"
#include "temp_dir.hpp"

extern char** environ;

namespace descent::testing {

// A file's bytes ("" when it cannot be read), and a file parsed as JSON.
inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}
inline nlohmann::json read_json(const std::string& path) {
  return nlohmann::json::parse(read_file(path));
}

struct CliResult {
  int status = -1;  // the exit status, or 128 + signal
  std::string out;
  std::string err;
};

struct CliOptions {
  std::vector<std::string> env = {};  // extra "KEY=VALUE" entries
  std::string cwd = "";               // working directory ("" keeps the test's)
  // Called with the stderr read so far; returning true kills the child with SIGKILL.
  std::function<bool(const std::string& err)> kill_when = nullptr;
  double timeout_seconds = 120;  // then SIGKILL
};

inline CliResult run_cli(const std::vector<std::string>& args, const CliOptions& options = {}) {
  int out_pipe[2];
  int err_pipe[2];
  DESCENT_CHECK(::pipe2(out_pipe, O_CLOEXEC) == 0 && ::pipe2(err_pipe, O_CLOEXEC) == 0,
                "run_cli: pipe");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
  if (!options.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, options.cwd.c_str());

  std::vector<std::string> argv_text = {DESCENT_CLI};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_text) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_text;
  for (char** e = environ; *e != nullptr; ++e) env_text.emplace_back(*e);
  env_text.insert(env_text.end(), options.env.begin(), options.env.end());
  std::vector<char*> envp;
  for (std::string& e : env_text) envp.push_back(e.data());
  envp.push_back(nullptr);

  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, DESCENT_CLI, &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  DESCENT_CHECK(spawned == 0, "run_cli: cannot start ", DESCENT_CLI, ": ", std::strerror(spawned));

  CliResult result;
  const auto start = std::chrono::steady_clock::now();
  bool killed = false;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  while (open_fds > 0) {
    ::poll(fds, 2, 100);
    for (int k = 0; k < 2; ++k) {
      if (fds[k].fd < 0 || fds[k].revents == 0) continue;
      char buffer[4096];
      const ssize_t n = ::read(fds[k].fd, buffer, sizeof buffer);
      if (n <= 0) {
        ::close(fds[k].fd);
        fds[k].fd = -1;
        --open_fds;
        continue;
      }
      (k == 0 ? result.out : result.err).append(buffer, static_cast<std::size_t>(n));
    }
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!killed && ((options.kill_when && options.kill_when(result.err)) ||
                    elapsed > options.timeout_seconds)) {
      ::kill(pid, SIGKILL);
      killed = true;
    }
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

// "status N", then stdout and stderr: the message of a failed expectation on a run.
inline std::string describe(const CliResult& r) {
  return cat("status ", r.status, "\n--- stdout\n", r.out, "--- stderr\n", r.err);
}

}  // namespace descent::testing
