#include "fetch/progress.hpp"
#include "util/text.hpp"

#include <fmt/format.h>

#include <memory>
#include <nlohmann/json.hpp>

namespace pb::fetch {

namespace {

using Clock = std::chrono::steady_clock;

std::string who(const Event& e) {
  return e.label.empty() ? e.url : e.label;
}

struct BarState {
  std::FILE* out;
  Clock::time_point started = Clock::now();
  Clock::time_point last_draw{};
  bool drawn = false;
};

void clear_bar(BarState& s) {
  if (s.drawn) std::fputs("\r\033[K", s.out);
  s.drawn = false;
}

void draw_bar(BarState& s, const Event& e) {
  double secs = std::chrono::duration<double>(Clock::now() - s.started).count();
  double rate = secs > 0.2 ? static_cast<double>(e.bytes_done) / secs : 0;
  std::string line = fmt::format("Fetching {}/{} files", e.files_done, e.files_total);
  constexpr int width = 24;
  if (e.bytes_total > 0) {
    double frac = std::min(1.0, static_cast<double>(e.bytes_done) / static_cast<double>(e.bytes_total));
    int fill = static_cast<int>(frac * width);
    line = fmt::format("[{}{}] ", std::string(fill, '#'), std::string(width - fill, '-')) + line;
    line += fmt::format("  {} / {}", human_bytes(static_cast<double>(e.bytes_done)),
                        human_bytes(static_cast<double>(e.bytes_total)));
  } else {
    line += "  " + human_bytes(static_cast<double>(e.bytes_done));
  }
  if (rate > 0) {
    line += fmt::format("  {}/s", human_bytes(rate));
    if (e.bytes_total > e.bytes_done)
      line += fmt::format("  ETA {:.0f}s", static_cast<double>(e.bytes_total - e.bytes_done) / rate);
  }
  std::fputs(("\r\033[K" + line).c_str(), s.out);
  std::fflush(s.out);
  s.drawn = true;
}

std::string summary(const Event& e, double secs) {
  size_t ok = e.files_done - e.files_failed;
  std::string failed = e.files_failed ? fmt::format(", {} failed", e.files_failed) : "";
  return fmt::format("Fetched {} ({} downloaded, {} from cache{}) in {:.1f}s", plural(ok, "file"),
                     human_bytes(static_cast<double>(e.bytes_done)), e.files_cached, failed, secs);
}

const char* kind_name(Event::Kind k) {
  switch (k) {
    case Event::Kind::start: return "start";
    case Event::Kind::cached: return "cached";
    case Event::Kind::downloaded: return "downloaded";
    case Event::Kind::retry: return "retry";
    case Event::Kind::waiting: return "waiting";
    case Event::Kind::failed: return "failed";
    case Event::Kind::progress: return "progress";
    case Event::Kind::finish: return "finish";
  }
  return "?";
}

}  // namespace

std::string human_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f} B", bytes) : fmt::format("{:.1f} {}", bytes, units[u]);
}

ProgressStyle choose_progress_style(bool quiet, bool json, bool is_tty) {
  if (quiet) return ProgressStyle::quiet;
  if (json) return ProgressStyle::json;
  return is_tty ? ProgressStyle::bar : ProgressStyle::plain;
}

Reporter make_reporter(ProgressStyle style, std::FILE* out) {
  switch (style) {
    case ProgressStyle::quiet: return {};
    case ProgressStyle::json:
      return [out](const Event& e) {
        nlohmann::json j = {{"event", kind_name(e.kind)}};
        if (!e.label.empty()) j["package"] = e.label;
        if (!e.url.empty()) j["url"] = e.url;
        if (!e.message.empty()) j["message"] = e.message;
        if (e.kind == Event::Kind::retry) {
          j["attempt"] = e.attempt;
          j["delay_seconds"] = e.delay_seconds;
        }
        if (e.kind == Event::Kind::downloaded) j["bytes"] = e.bytes;
        j["files_done"] = e.files_done;
        j["files_total"] = e.files_total;
        j["files_cached"] = e.files_cached;
        j["files_failed"] = e.files_failed;
        j["bytes_done"] = e.bytes_done;
        j["bytes_total"] = e.bytes_total;
        std::fputs((j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n").c_str(), out);
        std::fflush(out);
      };
    case ProgressStyle::plain: {
      auto started = std::make_shared<Clock::time_point>(Clock::now());
      return [out, started](const Event& e) {
        std::string line;
        switch (e.kind) {
          case Event::Kind::downloaded:
            line = fmt::format("downloaded {} ({})", who(e), human_bytes(static_cast<double>(e.bytes)));
            break;
          case Event::Kind::retry:
            line = fmt::format("retrying {} in {:.1f}s: {}: {}", who(e), e.delay_seconds, e.url, e.message);
            break;
          case Event::Kind::failed: line = fmt::format("failed {}: {}: {}", who(e), e.url, e.message); break;
          case Event::Kind::finish:
            if (e.files_total > 0) line = summary(e, std::chrono::duration<double>(Clock::now() - *started).count());
            break;
          default: break;
        }
        if (!line.empty()) std::fputs((line + "\n").c_str(), out);
      };
    }
    case ProgressStyle::bar: {
      auto state = std::make_shared<BarState>(BarState{out});
      return [state](const Event& e) {
        auto& s = *state;
        switch (e.kind) {
          case Event::Kind::retry:
            clear_bar(s);
            std::fputs(fmt::format("retrying {} in {:.1f}s: {}\n", who(e), e.delay_seconds, e.message).c_str(), s.out);
            break;
          case Event::Kind::failed:
            clear_bar(s);
            std::fputs(fmt::format("failed {}: {}: {}\n", who(e), e.url, e.message).c_str(), s.out);
            break;
          case Event::Kind::finish:
            clear_bar(s);
            if (e.files_total > 0)
              std::fputs((summary(e, std::chrono::duration<double>(Clock::now() - s.started).count()) + "\n").c_str(),
                         s.out);
            return;
          default: break;
        }
        // Redraw at most ten times a second; always after a message line.
        auto now = Clock::now();
        if (e.files_total > e.files_cached && (!s.drawn || now - s.last_draw >= std::chrono::milliseconds(100))) {
          draw_bar(s, e);
          s.last_draw = now;
        }
      };
    }
  }
  return {};
}

void Progress::start(size_t files_total, uint64_t bytes_total) {
  files_total_ = files_total;
  bytes_total_ = bytes_total;
  emit({.kind = Event::Kind::start});
}

void Progress::emit(Event e) {
  if (!reporter_) return;
  e.files_done = files_done_;
  e.files_total = files_total_;
  e.files_cached = files_cached_;
  e.files_failed = files_failed_;
  e.bytes_done = bytes_done_;
  e.bytes_total = bytes_total_;
  reporter_(e);
}

void Progress::file_done(bool cached, bool failed) {
  ++files_done_;
  if (cached) ++files_cached_;
  if (failed) ++files_failed_;
}

void Progress::tick() {
  auto now = Clock::now();
  if (now - last_tick_ < std::chrono::milliseconds(100)) return;
  last_tick_ = now;
  emit({.kind = Event::Kind::progress});
}

void Progress::finish() {
  emit({.kind = Event::Kind::finish});
}

}  // namespace pb::fetch
