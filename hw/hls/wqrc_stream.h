// hls::stream for the top-level interface with --io stream. Synthesis and
// WQRC_USE_AP_TYPES builds use Xilinx's hls_stream.h; plain g++ builds get this
// minimal FIFO with the same read/write/empty interface.
#ifndef WQRC_STREAM_H
#define WQRC_STREAM_H

#ifdef WQRC_USE_AP_TYPES
#include <hls_stream.h>
#else
#include <deque>
namespace hls {
template <class T>
class stream {
  public:
    void write(const T &v) { q_.push_back(v); }
    T read() {
        T v = q_.front();
        q_.pop_front();
        return v;
    }
    bool empty() const { return q_.empty(); }

  private:
    std::deque<T> q_;
};
}  // namespace hls
#endif

#endif  // WQRC_STREAM_H
