// A processing element of the descriptor-driven conv engine (wqrc_seq_conv.v): the code width
// (as masks) and the scheme are the running layer's, so one lane serves every layer of a mixed-precision
// model. The arithmetic is wqrc_pe_po2.v's and wqrc_pe_dfp.v's (docs/format.md 1a, 1b):
//   Po2 (po2 = 1): sign code[b-1], field m = code[b-2:0]; m = 0 is zero, else x << (m - 1)
//   DFP (po2 = 0): the b-bit two's-complement code times x
// HAS_PO2 / HAS_DFP drop the hardware of a scheme no layer of the model uses (a Po2-only
// model's lanes have no multiplier, so no DSP block).
`default_nettype none
module wqrc_pe_rt #(
    parameter integer BMAX = 4,       // widest code of any layer
    parameter integer MW = 16,        // activation width (signed, as the banks hold it)
    parameter integer ACC_W = 24,
    parameter integer HAS_PO2 = 1,
    parameter integer HAS_DFP = 0
) (
    input  wire                    clk,
    input  wire                    first,   // this product starts a new sum (from 0)
    input  wire                    en,
    input  wire                    po2,
    input  wire [BMAX-1:0]         bmask,   // this layer's code: b - 1 ones (Po2's field m)
    input  wire [BMAX-1:0]         bsign,   // and its sign bit, one-hot (bit b - 1)
    input  wire signed [MW-1:0]    x_in,    // the operands a cycle before they are used, x and -x
    input  wire signed [MW:0]      xn_in,   // (shared by the lanes); each lane decodes its code
    input  wire [BMAX-1:0]         code_in, // into a register
    output reg  [ACC_W-1:0]        acc
);
    /* verilator lint_off WIDTH */
    // decode: Po2's shift m - 1 and +-x by the code's sign (m = 0, a zero weight, gives 0); DFP's
    // code sign-extended from b bits
    localparam integer SHMAX = (1 << (BMAX - 1)) - 2;             // the largest m - 1
    localparam integer MAGW = (MW + 1 + SHMAX < ACC_W) ? MW + 1 + SHMAX : ACC_W;
    wire [BMAX-1:0] m_in = code_in & bmask;
    wire neg_in = |(code_in & bsign);
    wire signed [MW:0] x_wide = x_in;
    reg [BMAX-2:0] sh;
    reg signed [MW:0] xp;                                          // +-x, MW + 1 bits
    reg signed [BMAX-1:0] w;
    reg signed [MW-1:0] x;
    always @(posedge clk) begin
        sh <= m_in - 1'b1;
        xp <= (m_in == 0) ? 0 : (neg_in ? xn_in : x_wide);
        w <= neg_in ? (code_in | ~(bmask | bsign)) : (code_in & (bmask | bsign));
        x <= x_in;
    end
    // accumulate: one adder; a sum's first product replaces the accumulator (the lanes sum from
    // 0, and the bias is added as a channel drains, wqrc_seq_conv.v)
    wire signed [MAGW-1:0] xm = xp;
    wire signed [MAGW-1:0] mag = xm <<< sh;
    wire signed [ACC_W-1:0] po2_term = mag;
    wire signed [ACC_W-1:0] xs = x;
    wire signed [ACC_W-1:0] dfp_term = xs * w;
    wire signed [ACC_W-1:0] term = (HAS_PO2 != 0 && (po2 || HAS_DFP == 0)) ? po2_term : dfp_term;
    /* verilator lint_on WIDTH */
    always @(posedge clk) begin
        if (en) acc <= first ? term : acc + term;
    end
endmodule
`default_nettype wire
