"""Records PyTorch values for tests/recurrent/: torch.nn.RNN, LSTM and GRU forward and backward.

Each case (the table CASES below, mirrored in tests/recurrent/recurrent_test.cpp) builds the
layer in f64 with random parameters and runs it on a random input x (and, where the case
says so, random initial states h0 / c0). The loss is
    sum(output * w_output) + sum(h_n * w_h_n) [+ sum(c_n * w_c_n)]
with fixed random weights, so every element of every result reaches the gradients.

Records, under the case's name:
  x, h0, c0, param/<name>       the inputs and the layer's state dict
  w_output, w_h_n, w_c_n        the loss weights
  output, h_n, c_n              the forward results
  grad/x, grad/h0, grad/c0, grad/param/<name>   the gradients of the loss

Run with Debian's python (which has torch):
    /usr/bin/python3 tests/reference/record_recurrent.py
Writes tests/data/recurrent.txt.
"""
import torch
import torch.nn as nn

from reference_writer import Writer

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)

T, B, I, H = 3, 2, 3, 4

# name, layer, nonlinearity, num_layers, batch_first, with initial state
CASES = [
    ("rnn_tanh", "RNN", "tanh", 1, False, True),
    ("rnn_relu_2layer_bf", "RNN", "relu", 2, True, False),
    ("lstm_2layer_state", "LSTM", None, 2, False, True),
    ("lstm_bf", "LSTM", None, 1, True, False),
    ("gru_2layer_state", "GRU", None, 2, False, True),
    ("gru_bf", "GRU", None, 1, True, False),
]

w = Writer("recurrent.txt", __doc__)
for name, kind, nonlinearity, layers, batch_first, with_state in CASES:
    kwargs = dict(num_layers=layers, batch_first=batch_first)
    if kind == "RNN":
        layer = nn.RNN(I, H, nonlinearity=nonlinearity, **kwargs)
    else:
        layer = getattr(nn, kind)(I, H, **kwargs)
    # wider than PyTorch's default U(-1/2, 1/2), so relu and saturation both show
    with torch.no_grad():
        for p in layer.parameters():
            p.uniform_(-0.8, 0.8)
    x = torch.randn((B, T, I) if batch_first else (T, B, I), requires_grad=True)
    inputs = [x]
    w.add(name + "/x", x)
    state = None
    if with_state:
        h0 = torch.randn(layers, B, H, requires_grad=True)
        w.add(name + "/h0", h0)
        inputs.append(h0)
        state = h0
        if kind == "LSTM":
            c0 = torch.randn(layers, B, H, requires_grad=True)
            w.add(name + "/c0", c0)
            inputs.append(c0)
            state = (h0, c0)
    for key, value in layer.state_dict().items():
        w.add(name + "/param/" + key, value)

    output, final = layer(x, state)
    h_n, c_n = final if kind == "LSTM" else (final, None)
    w_output = torch.randn(output.shape)
    w_h_n = torch.randn(h_n.shape)
    loss = (output * w_output).sum() + (h_n * w_h_n).sum()
    w.add(name + "/w_output", w_output)
    w.add(name + "/w_h_n", w_h_n)
    w.add(name + "/output", output)
    w.add(name + "/h_n", h_n)
    if c_n is not None:
        w_c_n = torch.randn(c_n.shape)
        loss = loss + (c_n * w_c_n).sum()
        w.add(name + "/w_c_n", w_c_n)
        w.add(name + "/c_n", c_n)
    loss.backward()
    w.add(name + "/grad/x", x.grad)
    if with_state:
        w.add(name + "/grad/h0", h0.grad)
        if kind == "LSTM":
            w.add(name + "/grad/c0", c0.grad)
    for key, p in layer.named_parameters():
        w.add(name + "/grad/param/" + key, p.grad)
w.close()
