def handle_product_updated(event_data):
    product = event_data['data']
    update_external_inventory(product['sku'], product['quantity'])
