#!/usr/bin/env bash
# Regenerates the README's screenshots (1600x1000, the dark theme, the default dock layout).
# Run from the repo's top with the project installed: bash assets/screenshots/make.sh
# Look at every PNG before committing it.
set -euo pipefail
cd "$(dirname "$0")/../.."
export QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-offscreen}
out=assets/screenshots
shot() { name=$1; shift; playground screenshot "$@" -o "$out/$name.png"; echo "$out/$name.png"; }
shot spiral_mlp          spiral_mlp --steps 300
shot stepper_xor_mlp     xor_mlp --steps 200 --select fc2 --forward-steps 5 --backward-steps 3
shot cnn_digits          cnn_digits --steps 1500 --select conv1
shot transformer_reverse transformer_reverse --steps 400
shot gan_ring            gan_ring --steps 3000
shot vae_digits          vae_digits --steps 2000
shot char_lstm           char_lstm --steps 1000
shot char_rnn            char_rnn --steps 1000 --select rnn
shot char_gru            char_gru --steps 1000 --select rnn
shot bilstm_reverse      bilstm_reverse --steps 1000
shot word2vec_skipgram   word2vec_skipgram --steps 2000
shot seq2seq_dates       seq2seq_dates --steps 400 --select attention
shot transformer_lm      transformer_lm --steps 1000 --select self_attn/softmax
shot activations_saturation activations_saturation --steps 300 --select sigmoid1
shot init_variance       init_variance --steps 300 --select tanh_xavier2
shot resnet_vs_plain     resnet_vs_plain --steps 300 --select res1_add
shot optimizers_race     optimizers_race --steps 1000 --select f
shot transposed_conv_demo transposed_conv_demo --select up
shot regularization_overfit regularization_overfit --steps 1500
shot inception_digits    inception_digits --steps 200 --select inception_a
shot vgg_digits          vgg_digits --steps 400 --select block1
shot densenet_digits     densenet_digits --steps 200 --select denseblock1
python tools/make_vision_lessons.py --compare-png "$out/compare_regularization.png"
shot autoencoder_digits  autoencoder_digits --steps 3000 --select z
shot dcgan_digits        dcgan_digits --steps 3000 --select g_up1
shot resnet18_closed     resnet18
shot resnet18_open       resnet18 --open layer2_0
shot summary_resnet18    resnet18 --select layer2_0
