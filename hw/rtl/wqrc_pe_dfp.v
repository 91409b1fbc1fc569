// A Dynamic Fixed Point processing element (docs/format.md section 1a): one B x A-bit
// signed multiply-accumulate per cycle; the layer's scale 2^e is a constant shift
// folded into the requantization.
`default_nettype none
module wqrc_pe_dfp #(
    parameter integer B = 4,          // code width (two's complement), 2..16
    parameter integer A = 8,          // activation width
    parameter integer A_SIGNED = 1,   // 0: the activation is unsigned (after a ReLU)
    parameter integer ACC_W = 24      // accumulator width
) (
    input  wire             clk,
    input  wire             first,    // this product starts a new sum at the bias
    input  wire             en,
    input  wire [ACC_W-1:0] bias,
    input  wire [A-1:0]     x,
    input  wire [B-1:0]     code,
    output reg  [ACC_W-1:0] acc
);
    wire signed [A:0] xs = {A_SIGNED != 0 && x[A-1], x};
    wire signed [A+B:0] prod = xs * $signed(code);
    /* verilator lint_off WIDTH */
    wire signed [ACC_W-1:0] prod_w = prod;   // sign-extended (or truncated: the bound fits ACC_W)
    /* verilator lint_on WIDTH */
    always @(posedge clk) begin
        if (en) acc <= (first ? bias : acc) + prod_w;
    end
endmodule
`default_nettype wire
