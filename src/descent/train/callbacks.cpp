#include "descent/train/callbacks.hpp"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

namespace descent::train {
namespace {

using Json = nlohmann::ordered_json;

// JSON has no NaN or infinity: write them as null.
Json number(double value) {
  return std::isfinite(value) ? Json(value) : Json(nullptr);
}

// "  acc 91.20%", or nothing for regression (no accuracy).
std::string accuracy_text(double accuracy) {
  if (std::isnan(accuracy)) return "";
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "  acc %.2f%%", 100.0 * accuracy);
  return buffer;
}

std::string epoch_line(const EpochReport& stats) {
  std::string line = cat("epoch ", stats.epoch, "/", stats.epochs, "  step ", stats.step);
  char buffer[160];
  std::snprintf(buffer, sizeof buffer, "  loss %.4f", stats.train_loss);
  line += buffer + accuracy_text(stats.train_accuracy);
  if (stats.eval) {
    std::snprintf(buffer, sizeof buffer, "  %s loss %.4f", stats.eval_name.c_str(),
                  stats.eval->loss);
    line += buffer;
    if (stats.eval->objective == Objective::tokens) {
      std::snprintf(buffer, sizeof buffer, "  %.3f bits/char", stats.eval->bits_per_char());
      line += buffer;
    }
    if (stats.eval->objective == Objective::regression) {
      std::snprintf(buffer, sizeof buffer, "  error %.2f%%", 100.0 * stats.eval->error_rate);
      line += buffer;
    }
    line += accuracy_text(stats.eval->accuracy) + (stats.best ? " *" : "");
  }
  std::snprintf(buffer, sizeof buffer, "  %.0f samples/s  %.1f s", stats.samples_per_sec,
                stats.epoch_seconds);
  return line + buffer;
}

}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto total = static_cast<long long>(std::llround(seconds));
  char buffer[32];
  if (total >= 3600) {
    std::snprintf(buffer, sizeof buffer, "%lld:%02lld:%02lld", total / 3600, total / 60 % 60,
                  total % 60);
  } else {
    std::snprintf(buffer, sizeof buffer, "%lld:%02lld", total / 60, total % 60);
  }
  return buffer;
}

ProgressBar::ProgressBar(std::FILE* out, bool interactive) : out_(out), interactive_(interactive) {}

void ProgressBar::on_step(const StepReport& stats) {
  if (!interactive_) return;
  const auto now = std::chrono::steady_clock::now();
  const bool last = stats.batch == stats.batches_per_epoch || stats.step == stats.total_steps;
  if (drawn_ && !last && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  constexpr int kWidth = 20;
  const int filled =
      static_cast<int>(kWidth * stats.batch / std::max<std::int64_t>(stats.batches_per_epoch, 1));
  const std::string bar = std::string(filled, '#') + std::string(kWidth - filled, '-');
  // \r and "erase to the end of the line" redraw in place.
  char accuracy[32] = "";  // none for regression
  if (!std::isnan(stats.accuracy)) {
    std::snprintf(accuracy, sizeof accuracy, "  acc %.1f%%", 100.0 * stats.accuracy);
  }
  std::fprintf(out_, "\r\033[Kepoch %lld/%lld [%s] %lld/%lld  loss %.4f%s  %.0f samples/s  ETA %s",
               static_cast<long long>(stats.epoch + 1), static_cast<long long>(stats.epochs),
               bar.c_str(), static_cast<long long>(stats.batch),
               static_cast<long long>(stats.batches_per_epoch), stats.loss, accuracy,
               stats.samples_per_sec, format_duration(stats.eta_seconds).c_str());
  std::fflush(out_);
  drawn_ = true;
}

void ProgressBar::on_epoch(const EpochReport& stats) {
  if (drawn_) std::fputs("\r\033[K", out_);
  drawn_ = false;
  std::fprintf(out_, "%s\n", epoch_line(stats).c_str());
  std::fflush(out_);
}

void ProgressBar::on_end(const TrainResult&) {
  if (drawn_) std::fputs("\n", out_);
  drawn_ = false;
  std::fflush(out_);
}

MetricsLog::MetricsLog(const std::string& path) : path_(path) {
  file_ = std::fopen(path.c_str(), "a");
  DESCENT_CHECK(file_ != nullptr, "cannot write '", path, "': ", std::strerror(errno));
}

MetricsLog::~MetricsLog() {
  if (file_ != nullptr) std::fclose(file_);
}

void MetricsLog::write_line(const std::string& line) {
  const bool ok = std::fputs(line.c_str(), file_) >= 0 && std::fputc('\n', file_) != EOF &&
                  std::fflush(file_) == 0;
  DESCENT_CHECK(ok, "cannot write '", path_, "': ", std::strerror(errno));
}

void MetricsLog::on_step(const StepReport& stats) {
  if (!stats.skipped) return;
  Json record = {{"type", "skip"},
                 {"step", stats.step},
                 {"epoch", stats.epoch + 1},
                 {"reason", skip_reason_name(stats.skip_reason)},
                 {"loss", number(stats.loss)},
                 {"grad_norm", number(stats.grad_norm)},
                 {"skipped_steps", stats.skipped_steps}};
  write_line(record.dump());
}

void MetricsLog::on_interval(const IntervalReport& stats) {
  Json record = {{"type", "step"},
                 {"step", stats.step},
                 {"epoch", stats.epoch + 1},
                 {"loss", number(stats.loss)},
                 {"accuracy", number(stats.accuracy)},
                 {"lr", number(stats.lr)},
                 {"grad_norm", number(stats.grad_norm)},
                 {"samples_per_sec", number(stats.samples_per_sec)},
                 {"wall_seconds", number(stats.wall_seconds)},
                 {"skipped", stats.skipped},
                 {"skipped_steps", stats.skipped_steps}};
  write_line(record.dump());
}

void MetricsLog::on_epoch(const EpochReport& stats) {
  Json record = {{"type", "epoch"},
                 {"epoch", stats.epoch},
                 {"step", stats.step},
                 {"train_loss", number(stats.train_loss)},
                 {"train_accuracy", number(stats.train_accuracy)}};
  if (stats.eval) {
    record["eval_set"] = stats.eval_name;
    record["eval_loss"] = number(stats.eval->loss);
    record["eval_accuracy"] = number(stats.eval->accuracy);
    if (stats.eval->objective == Objective::tokens) {
      record["eval_bits_per_char"] = number(stats.eval->bits_per_char());
    }
    if (stats.eval->objective == Objective::regression) {
      record["eval_error_rate"] = number(stats.eval->error_rate);
    }
    record["best"] = stats.best;
  }
  record["lr"] = number(stats.lr);
  record["grad_norm"] = number(stats.grad_norm);
  record["samples_per_sec"] = number(stats.samples_per_sec);
  record["epoch_seconds"] = number(stats.epoch_seconds);
  record["wall_seconds"] = number(stats.wall_seconds);
  record["skipped"] = stats.skipped;
  write_line(record.dump());
}

void MetricsLog::on_diagnosis(const Diagnosis& diagnosis) {
  Json record = {{"type", "diagnosis"},
                 {"step", diagnosis.step},
                 {"code", diagnosis.code},
                 {"message", diagnosis.message}};
  write_line(record.dump());
}

DoctorWatch::DoctorWatch(DoctorOptions options, std::FILE* out, std::shared_ptr<MetricsLog> log)
    : doctor_(options), out_(out), log_(std::move(log)) {}

void DoctorWatch::on_step(const StepReport& stats) {
  for (const Diagnosis& diagnosis : doctor_.observe({.step = stats.step,
                                    .loss = stats.loss,
                                    .grad_norm = stats.grad_norm,
                                    .lr = stats.lr,
                                    .fp16_underflow = stats.fp16_underflow,
                                    .loss_scale = stats.loss_scale})) {
    if (out_ != nullptr) {
      std::fprintf(out_, "descent: doctor: %s\n", diagnosis.message.c_str());
      std::fflush(out_);
    }
    if (log_ != nullptr) log_->on_diagnosis(diagnosis);
  }
}

}  // namespace descent::train
