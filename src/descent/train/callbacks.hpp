// Callbacks that watch a Trainer: the progress bar, the metrics log, the doctor.
//
// ====== Intended usage ======
//   trainer.add_callback(std::make_shared<train::ProgressBar>(stdout, isatty(1)));
//   auto log = std::make_shared<train::MetricsLog>("runs/a/metrics.jsonl");
//   trainer.add_callback(log);
//   trainer.add_callback(std::make_shared<train::DoctorWatch>(DoctorOptions{}, stderr, log));
//
// ProgressBar on a terminal redraws one line, at most ten times a second:
//   epoch 3/10 [########------------]  234/469  loss 0.3312  acc 88.2%  5123 samples/s  ETA 1:23
// and leaves one line per epoch; elsewhere (a log file, a pipe) it prints only the epoch lines:
//   epoch 3/10  step 1407  loss 0.3123  acc 88.9%  test loss 0.3312  acc 88.1% *  5123
//   samples/s  12.3 s
// (* marks the best eval result so far). Regression prints no accuracy and adds the eval
// error rate ("error 3.10%"); a language model adds the eval bits per character
// ("1.912 bits/char").
//
// MetricsLog appends one JSON object per line, flushed as written:
//   {"type":"step","step":100,"epoch":1,"loss":..,"accuracy":..,"lr":..,"grad_norm":..,
//    "samples_per_sec":..,"wall_seconds":..}                       every log_every steps
//   {"type":"epoch","epoch":1,"step":469,"train_loss":..,"train_accuracy":..,"eval_set":"test",
//    "eval_loss":..,"eval_accuracy":..,"best":true,"lr":..,"grad_norm":..,
//    "samples_per_sec":..,"epoch_seconds":..,"wall_seconds":..}   after each epoch
//   {"type":"diagnosis","step":37,"code":"early_divergence","message":"..."}  from DoctorWatch
//   {"type":"skip","step":12,"epoch":1,"reason":"non_finite_grad","loss":..,"grad_norm":null,
//    "skipped_steps":3}                             each step the NaN guard skipped
// Epoch records add "eval_bits_per_char" (tokens) or "eval_error_rate" (regression); the
// accuracies of regression are null. Step and epoch records also carry "skipped" (steps skipped in
// the interval or epoch, left out of its means) and step records "skipped_steps" (in all). Epochs
// are 1-based in both (the epoch a step belongs to; the epochs completed); accuracies are fractions
// in [0, 1]; grad_norm is the global L2 norm before clipping, averaged over the steps covered.
//
// DoctorWatch feeds each step's loss, gradient norm and learning rate to a train::Doctor
// (doctor.hpp) and reports each diagnosis once: "descent: doctor: <message>" on its stream
// and a "diagnosis" record in the metrics log.
#pragma once

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "descent/train/doctor.hpp"
#include "descent/train/trainer.hpp"

namespace descent::train {

class ProgressBar : public Callback {
 public:
  // `interactive`: redraw a line (stdout is a terminal); else print only epoch lines.
  ProgressBar(std::FILE* out, bool interactive);
  void on_step(const StepReport& stats) override;
  void on_epoch(const EpochReport& stats) override;
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
  void on_step(const StepReport& stats) override;  // writes skipped steps only
  void on_interval(const IntervalReport& stats) override;
  void on_epoch(const EpochReport& stats) override;
  void on_diagnosis(const Diagnosis& diagnosis);

 private:
  void write_line(const std::string& line);
  std::string path_;
  std::FILE* file_ = nullptr;
};

class DoctorWatch : public Callback {
 public:
  // `out` may be null (no printing), `log` too.
  DoctorWatch(DoctorOptions options, std::FILE* out, std::shared_ptr<MetricsLog> log = nullptr);
  void on_step(const StepReport& stats) override;
  const std::vector<Diagnosis>& diagnoses() const { return doctor_.diagnoses(); }

 private:
  Doctor doctor_;
  std::FILE* out_;
  std::shared_ptr<MetricsLog> log_;
};

// "1:23", "1:02:03"
std::string format_duration(double seconds);

}  // namespace descent::train
