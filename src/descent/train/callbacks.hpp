// Callbacks that watch a Trainer: the progress bar and the metrics log.
//
// ====== Intended usage ======
//   trainer.add_callback(std::make_shared<train::ProgressBar>(stdout, isatty(1)));
//   trainer.add_callback(std::make_shared<train::MetricsLog>("runs/a/metrics.jsonl"));
//
// ProgressBar on a terminal redraws one line, at most ten times a second:
//   epoch 3/10 [########------------]  234/469  loss 0.3312  acc 88.2%  5123 samples/s  ETA 1:23
// and leaves one line per epoch; elsewhere (a log file, a pipe) it prints only the epoch lines:
//   epoch 3/10  step 1407  loss 0.3123  acc 88.9%  test loss 0.3312  acc 88.1% *  5123
//   samples/s  12.3 s
// (* marks the best eval accuracy so far).
//
// MetricsLog appends one JSON object per line, flushed as written:
//   {"type":"step","step":100,"epoch":1,"loss":..,"accuracy":..,"lr":..,"grad_norm":..,
//    "samples_per_sec":..,"wall_seconds":..}                       every log_every steps
//   {"type":"epoch","epoch":1,"step":469,"train_loss":..,"train_accuracy":..,"eval_set":"test",
//    "eval_loss":..,"eval_accuracy":..,"best":true,"lr":..,"grad_norm":..,
//    "samples_per_sec":..,"epoch_seconds":..,"wall_seconds":..}   after each epoch
// Epochs are 1-based in both (the epoch a step belongs to; the epochs completed); accuracies
// are fractions in [0, 1]; grad_norm is the global L2 norm before clipping, averaged over the
// steps covered.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

#include "descent/train/trainer.hpp"

namespace descent::train {

class ProgressBar : public Callback {
 public:
  // `interactive`: redraw a line (stdout is a terminal); else print only epoch lines.
  ProgressBar(std::FILE* out, bool interactive);
  void on_step(const StepStats& stats) override;
  void on_epoch(const EpochStats& stats) override;
  void on_end(const TrainResult& result) override;

 private:
  std::FILE* out_;
  bool interactive_;
  bool drawn_ = false;  // a progress line is on screen
  std::chrono::steady_clock::time_point last_draw_{};
};

class MetricsLog : public Callback {
 public:
  // Opens `path` for appending (a resumed run continues its log); throws naming it.
  explicit MetricsLog(const std::string& path);
  ~MetricsLog() override;
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;
  void on_interval(const IntervalStats& stats) override;
  void on_epoch(const EpochStats& stats) override;

 private:
  void write_line(const std::string& line);
  std::string path_;
  std::FILE* file_ = nullptr;
};

// "1:23", "1:02:03"
std::string format_duration(double seconds);

}  // namespace descent::train
