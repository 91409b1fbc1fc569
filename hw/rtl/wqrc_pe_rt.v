// A processing element of the descriptor-driven conv engine (wqrc_seq_conv.v): the code width
// and the scheme are the running layer's, so one lane serves every layer of a mixed-precision
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
    input  wire                    first,   // this product starts a new sum at the bias
    input  wire                    en,
    input  wire                    po2,
    input  wire [3:0]              b,       // this layer's code width, 2..BMAX
    input  wire [ACC_W-1:0]        bias,
    input  wire signed [MW-1:0]    x_in,    // the operands a cycle before they are used: each is
    input  wire [BMAX-1:0]         code_in, // decoded into a register (the code width is a run-time
    output reg  [ACC_W-1:0]        acc      // value, so its decoding is logic worth a stage)
);
    /* verilator lint_off WIDTH */
    wire [BMAX-1:0] field_mask = ({BMAX{1'b1}} >> (BMAX - b + 1));   // b - 1 ones
    reg [BMAX-1:0] m;
    reg neg;
    reg signed [BMAX-1:0] w;
    reg signed [MW-1:0] x;
    always @(posedge clk) begin
        m <= code_in & field_mask;
        neg <= code_in[b - 1];
        w <= $signed(code_in << (BMAX - b)) >>> (BMAX - b);              // sign-extended from b bits
        x <= x_in;
    end
    wire signed [ACC_W-1:0] xs = x;
    wire signed [ACC_W-1:0] mag = (m == 0) ? 0 : xs <<< (m - 1'b1);
    wire [ACC_W-1:0] po2_term = (mag ^ {ACC_W{neg}}) + {{(ACC_W-1){1'b0}}, neg};   // -mag when negative
    wire signed [ACC_W-1:0] dfp_term = xs * w;
    wire [ACC_W-1:0] term = (HAS_PO2 != 0 && (po2 || HAS_DFP == 0)) ? po2_term
                          : (HAS_DFP != 0 ? dfp_term : {ACC_W{1'b0}});
    /* verilator lint_on WIDTH */
    always @(posedge clk) begin
        if (en) acc <= (first ? bias : acc) + term;
    end
endmodule
`default_nettype wire
