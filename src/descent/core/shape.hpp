// Shape: a tensor's sizes, a small vector of int64 that keeps up to kInline dimensions in
// itself (no heap allocation for the shapes a network uses; more dimensions go to the heap).
//
// ====== Intended usage ======
//   Shape s = {128, 3, 32, 32};
//   s.push_back(1);  s[0] = 64;  for (std::int64_t d : s) ...;  s == Shape{64, 3, 32, 32, 1};
//
// It reads as std::vector<std::int64_t> does (the members below are the ones with the same
// names and meanings there) and converts from one.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <utility>
#include <vector>

namespace descent {

class Shape {
 public:
  using value_type = std::int64_t;
  using size_type = std::size_t;
  using difference_type = std::ptrdiff_t;
  using reference = std::int64_t&;
  using const_reference = const std::int64_t&;
  using iterator = std::int64_t*;
  using const_iterator = const std::int64_t*;
  using reverse_iterator = std::reverse_iterator<iterator>;
  using const_reverse_iterator = std::reverse_iterator<const_iterator>;
  static constexpr std::size_t kInline = 6;

  Shape() noexcept = default;
  Shape(std::initializer_list<std::int64_t> sizes) { assign(sizes.begin(), sizes.end()); }
  explicit Shape(std::size_t count) { assign(count, 0); }
  Shape(std::size_t count, std::int64_t value) { assign(count, value); }
  template <typename It, typename = decltype(*std::declval<It>())>
  Shape(It first, It last) {
    assign(first, last);
  }
  Shape(const std::vector<std::int64_t>& sizes)  // NOLINT(google-explicit-constructor)
  {
    assign(sizes.begin(), sizes.end());
  }
  Shape(const Shape& other) { assign(other.begin(), other.end()); }
  Shape(Shape&& other) noexcept { take(other); }
  Shape& operator=(const Shape& other) {
    if (this != &other) assign(other.begin(), other.end());
    return *this;
  }
  Shape& operator=(Shape&& other) noexcept {
    if (this != &other) {
      release();
      take(other);
    }
    return *this;
  }
  Shape& operator=(std::initializer_list<std::int64_t> sizes) {
    assign(sizes.begin(), sizes.end());
    return *this;
  }
  ~Shape() { release(); }

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  std::size_t capacity() const noexcept { return capacity_; }
  std::int64_t* data() noexcept { return data_; }
  const std::int64_t* data() const noexcept { return data_; }
  std::int64_t& operator[](std::size_t i) noexcept { return data_[i]; }
  const std::int64_t& operator[](std::size_t i) const noexcept { return data_[i]; }
  std::int64_t& front() noexcept { return data_[0]; }
  const std::int64_t& front() const noexcept { return data_[0]; }
  std::int64_t& back() noexcept { return data_[size_ - 1]; }
  const std::int64_t& back() const noexcept { return data_[size_ - 1]; }
  iterator begin() noexcept { return data_; }
  iterator end() noexcept { return data_ + size_; }
  const_iterator begin() const noexcept { return data_; }
  const_iterator end() const noexcept { return data_ + size_; }
  const_iterator cbegin() const noexcept { return data_; }
  const_iterator cend() const noexcept { return data_ + size_; }
  reverse_iterator rbegin() noexcept { return reverse_iterator(end()); }
  reverse_iterator rend() noexcept { return reverse_iterator(begin()); }
  const_reverse_iterator rbegin() const noexcept { return const_reverse_iterator(end()); }
  const_reverse_iterator rend() const noexcept { return const_reverse_iterator(begin()); }

  void clear() noexcept { size_ = 0; }
  void reserve(std::size_t n) {
    if (n > capacity_) grow(n);
  }
  void resize(std::size_t n, std::int64_t value = 0) {
    reserve(n);
    for (std::size_t i = size_; i < n; ++i) data_[i] = value;
    size_ = n;
  }
  void push_back(std::int64_t value) {
    if (size_ == capacity_) grow(2 * capacity_);
    data_[size_++] = value;
  }
  void emplace_back(std::int64_t value) { push_back(value); }
  void pop_back() noexcept { --size_; }
  void assign(std::size_t count, std::int64_t value) {
    clear();
    resize(count, value);
  }
  template <typename It>
  void assign(It first, It last) {
    const auto n = static_cast<std::size_t>(std::distance(first, last));
    if (n > capacity_) {
      release();
      grow(n);
    }
    std::size_t i = 0;
    for (; first != last; ++first) data_[i++] = static_cast<std::int64_t>(*first);
    size_ = n;
  }
  // Inserts before `pos`; returns an iterator to the first inserted element.
  template <typename It>
  iterator insert(const_iterator pos, It first, It last) {
    const auto at = static_cast<std::size_t>(pos - data_);
    const auto n = static_cast<std::size_t>(std::distance(first, last));
    if (size_ + n > capacity_) grow(std::max(size_ + n, 2 * capacity_));
    std::copy_backward(data_ + at, data_ + size_, data_ + size_ + n);
    std::size_t i = at;
    for (; first != last; ++first) data_[i++] = static_cast<std::int64_t>(*first);
    size_ += n;
    return data_ + at;
  }
  iterator insert(const_iterator pos, std::initializer_list<std::int64_t> values) {
    return insert(pos, values.begin(), values.end());
  }
  iterator insert(const_iterator pos, std::size_t count, std::int64_t value) {
    const auto at = static_cast<std::size_t>(pos - data_);
    if (size_ + count > capacity_) grow(std::max(size_ + count, 2 * capacity_));
    std::copy_backward(data_ + at, data_ + size_, data_ + size_ + count);
    std::fill(data_ + at, data_ + at + count, value);
    size_ += count;
    return data_ + at;
  }
  iterator insert(const_iterator pos, std::int64_t value) { return insert(pos, 1, value); }
  iterator erase(const_iterator first, const_iterator last) {
    const auto at = static_cast<std::size_t>(first - data_);
    const auto n = static_cast<std::size_t>(last - first);
    std::copy(data_ + at + n, data_ + size_, data_ + at);
    size_ -= n;
    return data_ + at;
  }
  iterator erase(const_iterator pos) { return erase(pos, pos + 1); }

  std::vector<std::int64_t> vec() const { return {begin(), end()}; }

  friend bool operator==(const Shape& a, const Shape& b) noexcept {
    return a.size_ == b.size_ && std::equal(a.begin(), a.end(), b.begin());
  }
  friend bool operator<(const Shape& a, const Shape& b) noexcept {
    return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end());
  }

 private:
  bool on_heap() const noexcept { return data_ != inline_; }
  void release() noexcept {
    if (on_heap()) delete[] data_;
    data_ = inline_;
    capacity_ = kInline;
    size_ = 0;
  }
  // Keeps the elements.
  void grow(std::size_t n) {
    n = std::max(n, kInline);
    auto* fresh = new std::int64_t[n];
    std::copy(data_, data_ + size_, fresh);
    if (on_heap()) delete[] data_;
    data_ = fresh;
    capacity_ = n;
  }
  void take(Shape& other) noexcept {
    size_ = other.size_;
    if (other.on_heap()) {
      data_ = other.data_;
      capacity_ = other.capacity_;
      other.data_ = other.inline_;
      other.capacity_ = kInline;
    } else {
      std::copy(other.inline_, other.inline_ + other.size_, inline_);
    }
    other.size_ = 0;
  }

  std::int64_t inline_[kInline] = {};
  std::int64_t* data_ = inline_;
  std::size_t size_ = 0;
  std::size_t capacity_ = kInline;
};

}  // namespace descent
