// A power-of-two processing element (docs/format.md section 1b): no multiplier.
// The B-bit code is a sign (MSB) and a (B-1)-bit field m; m = 0 is zero, m >= 1 is
// the multiplier 2^(m-1) at the layer's scale 2^n2. One product per cycle is the
// activation shifted left by m-1 and added to or subtracted from the accumulator.
`default_nettype none
module wqrc_pe_po2 #(
    parameter integer B = 4,          // code width, 2..8
    parameter integer A = 8,          // activation width
    parameter integer A_SIGNED = 1,   // 0: the activation is unsigned (after a ReLU)
    parameter integer ACC_W = 24      // accumulator width
) (
    input  wire             clk,
    input  wire             first,    // this product starts a new sum at the bias
    input  wire             en,       // accumulate this cycle's product
    input  wire [ACC_W-1:0] bias,
    input  wire [A-1:0]     x,
    input  wire [B-1:0]     code,
    output reg  [ACC_W-1:0] acc
);
    wire signed [A:0] xs = {A_SIGNED != 0 && x[A-1], x};   // A+1 signed bits either way
    wire [B-2:0] m = code[B-2:0];
    wire neg = code[B-1];               // "sign 1, m 0" never occurs, so a negative code has m >= 1
    /* verilator lint_off WIDTH */
    wire signed [ACC_W-1:0] mag = (m == 0) ? $signed({ACC_W{1'b0}}) : ($signed(xs) <<< (m - 1'b1));  // xs sign-extended
    /* verilator lint_on WIDTH */
    // acc - mag as acc + ~mag + 1: one adder with the sign as its carry-in, no separate negation
    wire [ACC_W-1:0] term = mag ^ {ACC_W{neg}};
    always @(posedge clk) begin
        if (en) acc <= (first ? bias : acc) + term + {{(ACC_W-1){1'b0}}, neg};
    end
endmodule
`default_nettype wire
