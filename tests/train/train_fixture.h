// Shared pieces of the train tests: a small corpus of fact sentences, tiny
// training options (seconds on 2 cores), a temporary directory.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "lmlab/train/trainer.h"

#define ASSERT_OK_AND_ASSIGN(lhs, expr)                                              \
  auto LMLAB_CONCAT(test_result_, __LINE__) = (expr);                                \
  ASSERT_TRUE(LMLAB_CONCAT(test_result_, __LINE__).has_value())                      \
      << LMLAB_CONCAT(test_result_, __LINE__).error().ToString();                    \
  lhs = std::move(*LMLAB_CONCAT(test_result_, __LINE__))

namespace lmlab::train::testing {

// ~300 short sentences about 24 cities: enough text for a few dozen windows
// of 32 tokens.
inline std::vector<std::string> SmallCorpus() {
  const char* cities[][3] = {
      {"Paris", "France", "48.9"},     {"Berlin", "Germany", "52.5"},  {"Madrid", "Spain", "40.4"},
      {"Rome", "Italy", "41.9"},       {"Vienna", "Austria", "48.2"},  {"Lisbon", "Portugal", "38.7"},
      {"Oslo", "Norway", "59.9"},      {"Cairo", "Egypt", "30.0"},     {"Tokyo", "Japan", "35.7"},
      {"Lima", "Peru", "-12.0"},       {"Quito", "Ecuador", "-0.2"},   {"Nairobi", "Kenya", "-1.3"},
      {"Dublin", "Ireland", "53.3"},   {"Warsaw", "Poland", "52.2"},   {"Athens", "Greece", "38.0"},
      {"Prague", "Czechia", "50.1"},   {"Ottawa", "Canada", "45.4"},   {"Canberra", "Australia", "-35.3"},
      {"Hanoi", "Vietnam", "21.0"},    {"Seoul", "Korea", "37.6"},     {"Havana", "Cuba", "23.1"},
      {"Santiago", "Chile", "-33.4"},  {"Bern", "Switzerland", "46.9"}, {"Helsinki", "Finland", "60.2"},
  };
  std::vector<std::string> docs;
  for (int round = 0; round < 4; ++round)
    for (const auto& c : cities) {
      docs.push_back(std::string(c[0]) + " is the capital of " + c[1] + ".");
      docs.push_back(std::string("The latitude of ") + c[0] + " is " + c[2] + " degrees.");
      docs.push_back(std::string(c[1]) + " has its capital in " + c[0] + ", at latitude " + c[2] + ".");
    }
  return docs;
}

inline TrainOptions TinyOptions() {
  TrainOptions o;
  o.model.n_ctx = 32;
  o.model.n_embd = 32;
  o.model.n_layer = 2;
  o.model.n_head = 2;
  o.tokenizer.vocab_size = 400;
  o.batch = 4;
  o.lr = 5e-3f;
  o.warmup = 2;
  o.seed = 1;
  o.threads = 1;  // ggml threads spin-wait: on a shared 2-core machine one thread is faster
  o.val_fraction = 0.1;
  return o;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "lmlab-train-test-XXXXXX").string();
    path_ = mkdtemp(tmpl.data()) ? std::filesystem::path(tmpl) : std::filesystem::path();
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace lmlab::train::testing
