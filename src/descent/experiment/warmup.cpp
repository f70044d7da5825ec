#include "descent/experiment/warmup.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <sstream>

#include "descent/autograd/autograd.hpp"
#include "descent/data/random.hpp"
#include "descent/data/text.hpp"
#include "descent/experiment/common.hpp"
#include "descent/nn/flat.hpp"
#include "descent/nn/transformer.hpp"
#include "descent/ops/loss.hpp"
#include "descent/ops/shape.hpp"
#include "descent/optim/adam.hpp"
#include "descent/report/html.hpp"
#include "descent/schedule/schedule.hpp"
#include "descent/train/atomic_file.hpp"

namespace descent::experiment {
namespace {

// Mean loss in nats over every validation window, in batches of `batch`.
double validation_nats(nn::Module& model, const data::TextWindows& val, std::int64_t batch,
                       std::int64_t vocab) {
  autograd::NoGradGuard no_grad;
  model.eval();
  const std::int64_t T = val.input_shape()[0];
  double total = 0;
  std::int64_t count = 0;
  for (std::int64_t start = 0; start < val.size(); start += batch) {
    const std::int64_t B = std::min(batch, val.size() - start);
    std::vector<std::int64_t> indices(static_cast<std::size_t>(B));
    for (std::int64_t b = 0; b < B; ++b) indices[b] = start + b;
    Tensor x = empty({B, T}, DType::i64);
    Tensor y = empty({B, T}, DType::i64);
    val.get_batch(indices, x, y);
    const Tensor loss =
        ops::cross_entropy(ops::reshape(model.forward(x), {B * T, vocab}), ops::reshape(y, {B * T}),
                           {.reduction = ops::Reduction::sum});
    total += loss.item();
    count += B * T;
  }
  model.train();
  return total / static_cast<double>(count);
}

WarmupRun train_one(const WarmupOptions& options, const data::TextCorpus& text,
                    const data::TextWindows& train, const data::TextWindows& val, std::int64_t seed,
                    bool warmup) {
  const auto start = std::chrono::steady_clock::now();
  WarmupRun run{.seed = seed, .warmup = warmup};
  const std::int64_t V = text.vocab_size();
  const std::int64_t T = options.length;
  const std::int64_t B = options.batch;
  Generator gen(static_cast<std::uint64_t>(seed));
  nn::TransformerLM model({.vocab_size = V,
                           .max_len = T,
                           .dim = options.dim,
                           .heads = options.heads,
                           .layers = options.layers},
                          gen);
  nn::flatten_parameters(model);
  optim::Adam adam(model.parameters(), {.lr = options.lr});
  const schedule::Schedule decay =
      schedule::cosine(options.steps - (warmup ? options.warmup_steps : 0));
  const schedule::Schedule lr_at =
      warmup ? schedule::warmup(options.warmup_steps).then(decay, options.warmup_steps) : decay;
  const double limit = options.divergence_factor * std::log(static_cast<double>(V));
  Tensor x = empty({B, T}, DType::i64);
  Tensor y = empty({B, T}, DType::i64);
  std::vector<std::int64_t> indices(static_cast<std::size_t>(B));
  for (std::int64_t step = 0; step < options.steps; ++step) {
    // Windows drawn uniformly with replacement, from a stream of their own per seed.
    const std::uint64_t key =
        data::stream_key(static_cast<std::uint64_t>(seed), data::Purpose::text_windows, 0);
    for (std::int64_t b = 0; b < B; ++b) {
      const auto counter = static_cast<std::uint64_t>(step * B + b);
      indices[b] = static_cast<std::int64_t>(data::below(data::bits64(philox4x32(counter, key)),
                                                         static_cast<std::uint64_t>(train.size())));
    }
    train.get_batch(indices, x, y);
    adam.set_lr(lr_at(step, options.lr));
    model.zero_grad();
    const Tensor loss =
        ops::cross_entropy(ops::reshape(model.forward(x), {B * T, V}), ops::reshape(y, {B * T}));
    const double value = loss.item();
    run.train_loss.push_back(value);
    if (!std::isfinite(value) || value > limit) {
      run.diverged = true;
      run.diverged_at = step;
      break;
    }
    loss.backward();
    adam.step();
    if ((step + 1) % options.eval_every == 0 || step + 1 == options.steps) {
      run.val_bpc.emplace_back(step + 1, data::bits_per_char(validation_nats(model, val, 64, V)));
    }
  }
  run.final_val_bpc = run.diverged || run.val_bpc.empty() ? std::numeric_limits<double>::quiet_NaN()
                                                          : run.val_bpc.back().second;
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return run;
}

}  // namespace

void WarmupOptions::validate() const {
  DESCENT_CHECK(seeds >= 1 && seeds <= 1000, "warmup experiment: seeds must be in [1, 1000], got ",
                seeds);
  DESCENT_CHECK(steps >= 2, "warmup experiment: steps must be at least 2, got ", steps);
  DESCENT_CHECK(batch >= 1 && length >= 1,
                "warmup experiment: batch and length must be positive, got ", batch, " and ",
                length);
  DESCENT_CHECK(
      dim >= 1 && heads >= 1 && dim % heads == 0 && layers >= 1,
      "warmup experiment: dim must be a positive multiple of heads and layers >= 1, got dim ", dim,
      ", heads ", heads, ", layers ", layers);
  DESCENT_CHECK(lr > 0 && std::isfinite(lr), "warmup experiment: lr must be positive, got ", lr);
  DESCENT_CHECK(warmup_steps >= 1 && warmup_steps < steps,
                "warmup experiment: warmup_steps must be in [1, steps), got ", warmup_steps,
                " for ", steps, " steps");
  DESCENT_CHECK(eval_every >= 1, "warmup experiment: eval_every must be positive, got ",
                eval_every);
  DESCENT_CHECK(divergence_factor > 1, "warmup experiment: divergence_factor must be > 1, got ",
                divergence_factor);
}

std::string WarmupRun::label() const {
  return cat("seed ", seed, warmup ? " with warmup" : " without warmup", ": ",
             diverged ? cat("diverged at step ", diverged_at)
                      : cat("validation ", number(final_val_bpc), " bits/char"),
             " (", number(seconds, 3), " s)");
}

std::vector<WarmupRun> run_warmup(const WarmupOptions& options,
                                  const std::function<void(const WarmupRun&)>& on_run) {
  options.validate();
  if (options.threads > 0) set_num_threads(static_cast<int>(options.threads));
  const data::TextCorpus text =
      data::load_text(options.text.empty() ? data::default_text_path() : options.text);
  const auto [train, val] = data::split_text(text, {.length = options.length, .val_fraction = 0.1});
  std::vector<WarmupRun> runs;
  for (const bool warmup : {false, true}) {
    for (std::int64_t seed = 0; seed < options.seeds; ++seed) {
      runs.push_back(train_one(options, text, train, val, seed, warmup));
      if (on_run) on_run(runs.back());
    }
  }
  return runs;
}

void write_warmup_report(const std::vector<WarmupRun>& runs, const WarmupOptions& options,
                         const std::string& dir) {
  DESCENT_CHECK(!runs.empty(), "warmup report: no runs");
  // Published whole: a rerun into the same folder never leaves a mix of two runs.
  publish_folder(dir, "warmup report", [&](const std::filesystem::path& folder) {
    std::string csv = "seed,warmup,steps,diverged_at,final_val_bpc,seconds\n";
    std::string curves = "seed,warmup,step,train_loss\n";
    report::LinePlot loss({.title = "training loss",
                           .x_label = "step",
                           .y_label = "nats per character",
                           .log_y = true});
    report::LinePlot bpc({.title = "validation bits per character",
                          .x_label = "step",
                          .y_label = "bits per character"});
    std::vector<std::vector<std::string>> table;
    for (const bool warmup : {false, true}) {
      std::int64_t diverged = 0;
      std::vector<double> finals;
      for (const WarmupRun& r : runs) {
        if (r.warmup != warmup) continue;
        csv += cat(r.seed, ",", warmup ? 1 : 0, ",", r.train_loss.size(), ",", r.diverged_at, ",",
                   number(r.final_val_bpc, 6), ",", number(r.seconds, 4), "\n");
        for (std::size_t s = 0; s < r.train_loss.size(); ++s) {
          curves += cat(r.seed, ",", warmup ? 1 : 0, ",", s, ",", number(r.train_loss[s], 6), "\n");
        }
        const std::string name = cat(warmup ? "warmup" : "no warmup", ", seed ", r.seed);
        loss.add(name, positive_or_gap(r.train_loss));
        std::vector<double> xs;
        std::vector<double> ys;
        for (const auto& [step, value] : r.val_bpc) {
          xs.push_back(static_cast<double>(step));
          ys.push_back(value);
        }
        bpc.add(name, xs, ys);
        diverged += r.diverged ? 1 : 0;
        if (!r.diverged) finals.push_back(r.final_val_bpc);
      }
      std::string values;
      for (double v : finals) values += (values.empty() ? "" : ", ") + number(v, 4);
      table.push_back({warmup ? cat("linear, ", options.warmup_steps, " steps") : "none",
                       std::to_string(finals.size() + static_cast<std::size_t>(diverged)),
                       std::to_string(diverged), values.empty() ? "-" : values});
    }
    train::write_file_atomic((folder / "runs.csv").string(), csv);
    train::write_file_atomic((folder / "curves.csv").string(), curves);
    loss.save((folder / "loss.svg").string());
    bpc.save((folder / "val_bpc.svg").string());

    report::HtmlReport page("Warmup: a small transformer at a high learning rate");
    page.paragraph(
        cat("A decoder-only transformer (", options.layers, " pre-norm blocks, dim ", options.dim,
            ", ", options.heads, " heads, learned positions) learns characters of ",
            options.text.empty() ? data::default_text_path() : options.text, " (windows of ",
            options.length, ", batch ", options.batch, ", last 10% held out) with Adam at lr ",
            number(options.lr), " for ", options.steps,
            " steps; both arms decay the learning rate by a cosine to 0, and the warmup arm first "
            "raises it linearly from 0 over ",
            options.warmup_steps,
            " steps. A run diverges when its training loss is not finite or "
            "exceeds ",
            number(options.divergence_factor), " x ln(vocabulary)."));
    page.table(
        {"warmup", "runs", "diverged", "final validation bits/char (runs that did not diverge)"},
        table);
    page.figure(loss, "Training loss per step; a line that stops is a diverged run.");
    page.figure(bpc, "Validation bits per character.");
    page.save((folder / "report.html").string());
  });
}

}  // namespace descent::experiment
