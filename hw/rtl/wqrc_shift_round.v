// The requantization rule of docs/format.md section 3 with a run-time shift, for the
// descriptor-driven engines (wqrc_seq_*.v), whose one unit serves every layer:
//     y = clamp(rshift_round(v, s), lo, hi)
// the same values as wqrc_requant.v, built for area: of the shifted value only the OUT_W + 1
// bits that can reach the output are formed, and a flag says whether the rest holds anything
// but sign bits (then the result saturates, to lo or hi, before the clamp):
//   s > 0:  q = v >>> s, plus the rounding bit v[s-1] (ties up), or, ties to even, plus
//           v[s-1] && (q odd || any bit below s-1)
//   s <= 0: q = v << -s
// The shift arrives as a position, p = s + OUT_W + 1 (v is taken with OUT_W + 1 zeros below it,
// so every shift is rightwards), capped to 0 .. IN_W + OUT_W + 1: every shift beyond either end
// gives the same result as the end (0, or saturation of any non-zero value). The compiler
// forms p (wqrc/backend/rtl_seq.py, shift_position), so the shifter's controls come from a
// register with no arithmetic in between. One register stage sits after the shifter: y
// follows v and p by one clock.
`default_nettype none
module wqrc_shift_round #(
    parameter integer IN_W = 24,      // v's width (signed)
    parameter integer OUT_W = 16,     // y's width; lo and hi are OUT_W-bit two's-complement values
    parameter integer QW = 7,         // p's width
    parameter integer HAS_EVEN = 1    // 0: no layer rounds ties to even; the sticky bit is dropped
) (
    input  wire                    clk,
    input  wire signed [IN_W-1:0]  v,
    input  wire [QW-1:0]           p,
    input  wire                    even,
    input  wire signed [OUT_W-1:0] lo,
    input  wire signed [OUT_W-1:0] hi,
    output wire        [OUT_W-1:0] y
);
    localparam integer L = OUT_W + 1;                 // the left-shift cap
    localparam integer XW = IN_W + L + 1;             // v with L zeros below (every shift is rightwards)
                                                      // and a sign bit above (a shift by IN_W rounds from it)
    /* verilator lint_off WIDTH */
    wire [XW-1:0] vx = {v[IN_W-1], v, {L{1'b0}}};
    wire sign = v[IN_W-1];
    // the OUT_W + 1 kept bits, the rounding bit below them, and what lies below that
    // coarse (multiples of 8), then fine: only the bits that reach q are formed at each step
    /* verilator lint_off UNUSEDSIGNAL */
    wire [XW+7:0] vs = {{8{sign}}, vx};
    localparam integer QP = QW > 3 ? QW : 4;          // p with room for its coarse part
    wire [QP-1:0] pq = p;
    wire [XW+7:0] coarse_all = $signed(vs) >>> {pq[QP-1:3], 3'b000};
    wire [OUT_W+7:0] coarse = coarse_all[OUT_W+7:0];
    wire [OUT_W+7:0] fine = coarse >> pq[2:0];
    /* verilator lint_on UNUSEDSIGNAL */
    wire [OUT_W:0] q = fine[OUT_W:0];
    wire rbit = (p > L) ? vx[p - 1] : 1'b0;           // p > L: a right shift of v
    // thermometer masks from p: what lies below the rounding bit, and what lies above the kept bits
    wire [XW-1:0] ones = {XW{1'b1}};
    wire [XW-1:0] below = ~(ones << (p > 0 ? p - 1 : 0));
    wire [XW-1:0] above = ones << (p + OUT_W);
    wire sticky = HAS_EVEN != 0 && |(vx & below);
    wire ovf = |((vx ^ {XW{sign}}) & above);
    reg [OUT_W:0] q_r;
    reg up_r, ovf_r, sign_r;
    always @(posedge clk) begin
        q_r <= q; ovf_r <= ovf; sign_r <= sign;
        up_r <= rbit && (!even || q[0] || sticky);
    end
    wire signed [OUT_W+1:0] r = $signed(q_r) + $signed({1'b0, up_r});
    wire signed [OUT_W+1:0] lo_w = lo;
    wire signed [OUT_W+1:0] hi_w = hi;
    /* verilator lint_off UNUSEDSIGNAL */
    wire signed [OUT_W+1:0] c = ovf_r ? (sign_r ? lo_w : hi_w) : (r < lo_w ? lo_w : r > hi_w ? hi_w : r);
    /* verilator lint_on UNUSEDSIGNAL */
    /* verilator lint_on WIDTH */
    assign y = c[OUT_W-1:0];
endmodule
`default_nettype wire
