# Table 1 ladder at demo size, row 2: CrIBo (configs/demo/cribo_vit-demo_synthetic.py) + vMF with
# probability centering in both terms; still 4 clusters, 5 Sinkhorn iterations, no depth, queue 1000.
_base_ = ['../cribo_vit-demo_synthetic.py']
model = dict(global_loss={{_base_.vmf_demo_loss}}, object_loss={{_base_.vmf_demo_loss}})
