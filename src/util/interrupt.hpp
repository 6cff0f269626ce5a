// What pybundle does when SIGINT, SIGTERM or SIGHUP arrives. A watcher thread (the handler only
// wakes it) passes the signal on to registered child processes that handle it themselves (run,
// serve) and kills them if they are not gone within a grace period; otherwise it stops the other
// children, removes the registered temporary paths, and dies of the signal.
#pragma once
#include <sys/types.h>

#include <filesystem>

namespace pb::interrupt {

// Once, early in main.
void install();

// True once a signal is being handled by removing paths and dying (not while it is forwarded).
bool interrupted();

// Throws pb::Error once interrupted(): loops that write into a path being removed call it per file,
// so they stop instead of recreating what the removal took.
void throw_if_interrupted();

// Called by the main thread before it reports an error or exits: while a signal is being handled,
// it waits there to be killed, so an error caused by the removal (a staging directory that went
// away) is not printed, the exit status stays the signal's, and the removal is not cut short.
void hold_if_interrupted();

// Removed (recursively) if we are interrupted, until forgotten.
void remove_on_signal(const std::filesystem::path& path);
void forget(const std::filesystem::path& path);

// A running child. With `forward`, a signal is passed on and we wait for the child; a second
// signal (a second or more after the first), or the grace period passing, kills it.
void add_child(pid_t pid, bool forward);
void remove_child(pid_t pid);

// True once a signal was passed on to a child: it was asked to stop.
bool stop_requested();

// Seconds a forwarded child may take to shut down before SIGKILL.
inline constexpr int kGraceSeconds = 5;

}  // namespace pb::interrupt
